//! `rprobe why` and `rprobe graph` on the real 6.12 tree, checked against facts found
//! elsewhere: kmod's `modprobe --show-depends` (the module is in the plan), modules.dep (a
//! symbol edge's target is listed for its source), modules.symbols (the target exports each
//! symbol named), kmod's `modprobe --show-modversions` (the source needs it), and the
//! configuration file line an edge cites.

use rprobe_index::generation::Generation;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::json::indexed_612;
use crate::util::*;

/// One indexed tree and the facts the checks read from it.
struct Facts {
    root: PathBuf,
    version: String,
    moddir: PathBuf,
    /// module -> (file, modules.dep's list as names)
    dep: BTreeMap<String, (String, Vec<String>)>,
    /// "symbol:NAME module" pairs of modules.symbols
    symbols: BTreeSet<(String, String)>,
    /// (pattern, module) of modules.alias
    aliases: BTreeSet<(String, String)>,
}

fn modname(p: &str) -> String {
    let f = p.rsplit('/').next().unwrap_or(p);
    f.split('.').next().unwrap_or(f).replace('-', "_")
}

fn facts(root: &Path, version: &str) -> Facts {
    let moddir = root.join("lib/modules").join(version);
    let read = |f: &str| std::fs::read_to_string(moddir.join(f)).expect(f);
    let dep = read("modules.dep")
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(p, d)| {
            (
                modname(p),
                (
                    p.to_string(),
                    d.split_whitespace().map(modname).collect::<Vec<_>>(),
                ),
            )
        })
        .collect();
    let pairs = |text: String| -> BTreeSet<(String, String)> {
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("alias")).then_some(())?;
                Some((w.next()?.to_string(), w.next()?.to_string()))
            })
            .collect()
    };
    Facts {
        root: root.to_path_buf(),
        version: version.to_string(),
        symbols: pairs(read("modules.symbols")),
        aliases: pairs(read("modules.alias")),
        dep,
        moddir,
    }
}

impl Facts {
    fn base(&self, conf: &Path) -> Vec<OsString> {
        vec![
            "-d".into(),
            self.root.clone().into(),
            "-S".into(),
            self.version.clone().into(),
            "-C".into(),
            conf.into(),
        ]
    }

    /// The module names in kmod's --show-depends plan of `name`.
    fn kmod_plan(&self, conf: &Path, name: &str) -> BTreeSet<String> {
        let mut a = self.base(conf);
        a.push("-D".into());
        a.push(name.into());
        let o = run(&kmod("modprobe"), &a);
        assert!(o.status.success(), "kmod modprobe -D {name}");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("insmod "))
            .map(|l| modname(l.split_whitespace().next().unwrap_or("")))
            .collect()
    }

    /// The symbols a module file needs, as kmod reads them (__versions).
    fn kmod_needs(&self, module: &str) -> BTreeSet<String> {
        let (file, _) = &self.dep[module];
        let o = run(
            &kmod("modprobe"),
            [
                "--show-modversions".as_ref(),
                self.moddir.join(file).as_os_str(),
            ],
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
            .collect()
    }

    /// Checks one "  A -> B: REASON" line of `rprobe why` against the facts.
    fn check_edge(&self, a: &str, b: &str, why: &str) {
        if let Some(rest) = why.strip_prefix("uses ") {
            let (list, exporter) = rest.split_once(" exported by ").expect("exported by");
            assert_eq!(exporter, b, "{why}");
            let list = list.split(" and ").next().unwrap_or(list);
            let needed = self.kmod_needs(a);
            let syms: Vec<&str> = list.split(", ").collect();
            assert!(!syms.is_empty() && syms.len() <= 3, "{why}");
            for s in syms {
                assert!(
                    self.symbols
                        .contains(&(format!("symbol:{s}"), b.to_string())),
                    "modules.symbols: {b} does not export {s}"
                );
                assert!(needed.contains(s), "{a} does not need {s} (kmod)");
            }
            assert!(
                self.dep[a].1.iter().any(|d| d == b),
                "modules.dep does not list {b} for {a}"
            );
        } else if let Some(rest) = why
            .strip_prefix("soft pre-dependency (")
            .map(|r| ("pre:", r))
            .or_else(|| {
                why.strip_prefix("soft post-dependency (")
                    .map(|r| ("post:", r))
            })
        {
            let (word, rest) = rest;
            let line = cited_line(rest);
            let norm: Vec<String> = line
                .split_whitespace()
                .map(|w| w.replace('-', "_"))
                .collect();
            assert_eq!(norm.first().map(String::as_str), Some("softdep"), "{line}");
            assert_eq!(norm.get(1).map(String::as_str), Some(a), "{line}");
            let at = norm.iter().position(|w| w == word).expect(word);
            let end = norm[at + 1..]
                .iter()
                .position(|w| w.ends_with(':'))
                .map_or(norm.len(), |p| at + 1 + p);
            assert!(
                norm[at + 1..end].iter().any(|w| w == b),
                "{b} not {word} in '{line}'"
            );
        } else if let Some(rest) = why.strip_prefix("alias matching '") {
            let (pat, src) = rest.split_once("' (").expect("alias source");
            if src == "modules.alias)" {
                assert!(
                    self.aliases.contains(&(pat.to_string(), b.to_string())),
                    "modules.alias has no 'alias {pat} {b}'"
                );
            } else {
                let line = cited_line(src.strip_prefix("alias in ").expect("alias in"));
                let w: Vec<String> = line
                    .split_whitespace()
                    .map(|w| w.replace('-', "_"))
                    .collect();
                assert_eq!(w, ["alias", a, b], "{line}");
            }
        } else {
            panic!("unexpected reason: {why}");
        }
    }

    /// Runs `rprobe why` with `args`; returns the exit code and the chains' edges
    /// (A, B, reason), after checking each against the facts.
    fn why(&self, conf: &Path, args: &[&str]) -> (i32, Vec<(String, String, String)>) {
        let mut a: Vec<OsString> = vec!["why".into()];
        a.extend(self.base(conf));
        a.extend(args.iter().map(OsString::from));
        let o = run(&rprobe(), &a);
        assert_no_panic(&o, "why");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut edges = Vec::new();
        for l in text.lines().filter_map(|l| l.strip_prefix("  ")) {
            let (hop, why) = l.split_once(": ").expect("A -> B: reason");
            let (x, y) = hop.split_once(" -> ").expect("A -> B");
            self.check_edge(x, y, why);
            edges.push((x.to_string(), y.to_string(), why.to_string()));
        }
        (code(&o), edges)
    }
}

/// `rprobe why --json` with `args` agrees with the text output (which [`Facts::why`] checks
/// against the facts): the same chains, the same symbols, patterns, files and lines.
fn check_json_against_text(f: &Facts, conf: &Path, args: &[&str]) {
    let (c, edges) = f.why(conf, args);
    let mut a: Vec<OsString> = vec!["why".into(), "--json".into()];
    a.extend(f.base(conf));
    a.extend(args.iter().map(OsString::from));
    let o = run(&rprobe(), &a);
    assert_eq!(code(&o), c, "{args:?}");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let chains: Vec<&serde_json::Value> = j["needed_by"]
        .as_array()
        .expect("needed_by")
        .iter()
        .flat_map(|r| r["chain"].as_array().expect("chain"))
        .collect();
    assert_eq!(chains.len(), edges.len(), "{args:?}");
    for (e, (x, y, why)) in chains.iter().zip(&edges) {
        assert_eq!(
            (e["from"].as_str(), e["to"].as_str()),
            (Some(x.as_str()), Some(y.as_str()))
        );
        let kind = e["kind"].as_str().expect("kind");
        if let Some(rest) = why.strip_prefix("uses ") {
            assert_eq!(kind, "symbols");
            let syms: Vec<&str> = e["symbols"]
                .as_array()
                .expect("symbols")
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            let list = rest.split(" exported by ").next().unwrap_or("");
            let (shown, more) = match list.split_once(" and ") {
                Some((l, m)) => (
                    l,
                    m.split(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                ),
                None => (list, 0usize),
            };
            let shown: Vec<&str> = shown.split(", ").collect();
            assert_eq!(syms.len(), shown.len() + more, "{why}");
            assert_eq!(&syms[..shown.len()], &shown[..], "{why}");
        } else if why.starts_with("soft ") || why.starts_with("weak ") {
            let cite = format!(
                "{} line {}",
                e["file"].as_str().expect("file"),
                e["line"].as_u64().expect("line")
            );
            assert!(why.contains(&cite), "{why} vs {cite}");
        } else {
            assert_eq!(kind, "alias");
            let p = e["pattern"].as_str().expect("pattern");
            assert!(why.starts_with(&format!("alias matching '{p}'")), "{why}");
        }
    }
}

/// The text of the line a reason cites as "FILE line N" (up to ')' or ',').
fn cited_line(s: &str) -> String {
    let end = s.find([')', ',']).unwrap_or(s.len());
    let (file, n) = s[..end].rsplit_once(" line ").expect("FILE line N");
    let n: usize = n.parse().expect("line number");
    let text = std::fs::read_to_string(file).expect("cited file");
    text.lines()
        .nth(n - 1)
        .expect("cited line exists")
        .to_string()
}

/// Asserts the edges form one chain from `from` to `to`.
fn assert_chain(edges: &[(String, String, String)], from: &str, to: &str) {
    assert!(!edges.is_empty(), "no chain {from} -> {to}");
    assert_eq!(edges[0].0, from);
    assert_eq!(edges[edges.len() - 1].1, to);
    for w in edges.windows(2) {
        assert_eq!(w[0].1, w[1].0, "broken chain {edges:?}");
    }
}

#[test]
fn why_ext4_and_btrfs_chains_match_kmod_and_the_indexes() {
    let Some((tmp, version, conf)) = indexed_612() else {
        return;
    };
    let f = facts(tmp.path(), &version);
    for (root, targets) in [
        ("ext4", &["jbd2", "crc16", "mbcache", "crc32c_generic"][..]),
        (
            "btrfs",
            &[
                "xor",
                "raid6_pq",
                "libcrc32c",
                "blake2b_generic",
                "crc32c_intel",
            ][..],
        ),
    ] {
        let plan = f.kmod_plan(&conf, root);
        for t in targets {
            assert!(plan.contains(*t), "test premise: kmod plans {t} for {root}");
            let (c, edges) = f.why(&conf, &[t, "--in", root]);
            assert_eq!(c, 0, "why {t} --in {root}");
            assert_chain(&edges, root, t);
        }
    }
    // A symbol edge and a softdep edge were both explained.
    let (_, e) = f.why(&conf, &["jbd2", "--in", "ext4"]);
    assert!(e[0].2.starts_with("uses "), "{e:?}");
    let (_, e) = f.why(&conf, &["crc32c_generic", "--in", "ext4"]);
    assert!(
        e.iter().any(|x| x.2.starts_with("soft pre-dependency")),
        "{e:?}"
    );
    assert!(e.iter().any(|x| x.2.starts_with("alias matching")), "{e:?}");
    // Not in the closure: exit 1, no chain.
    let (c, e) = f.why(&conf, &["xfs", "--in", "ext4"]);
    assert_eq!((c, e.len()), (1, 0));
    for args in [
        &["jbd2", "--in", "ext4"][..],
        &["crc32c_generic", "--in", "ext4"][..],
        &["raid6_pq", "--in", "btrfs"][..],
        &["xfs", "--in", "ext4"][..],
    ] {
        check_json_against_text(&f, &conf, args);
    }
}

#[test]
fn why_config_alias_and_softdep_cite_file_and_line() {
    let Some((tmp, version, _)) = indexed_612() else {
        return;
    };
    let f = facts(tmp.path(), &version);
    let conf = tmp.path().join("why-conf.d");
    std::fs::create_dir_all(&conf).expect("mkdir");
    let file = conf.join("10-why.conf");
    std::fs::write(
        &file,
        "# a test configuration\nalias my-fs xfs\n\nsoftdep xfs pre: crc16 post: mbcache\n",
    )
    .expect("write");
    assert!(f.kmod_plan(&conf, "my-fs").contains("crc16"), "premise");
    let (c, edges) = f.why(&conf, &["crc16", "--in", "my-fs"]);
    assert_eq!(c, 0);
    assert_chain(&edges, "my_fs", "crc16");
    let f_line = |n: usize| format!("{} line {n}", file.display());
    assert_eq!(edges.len(), 2, "{edges:?}");
    assert!(edges[0].2.contains(&f_line(2)), "{edges:?}");
    assert!(edges[1].2.starts_with("soft pre-dependency"), "{edges:?}");
    assert!(edges[1].2.contains(&f_line(4)), "{edges:?}");
    let (c, edges) = f.why(&conf, &["mbcache", "--in", "my-fs"]);
    assert_eq!(c, 0);
    assert!(edges[1].2.starts_with("soft post-dependency"), "{edges:?}");
    check_json_against_text(&f, &conf, &["crc16", "--in", "my-fs"]);
    check_json_against_text(&f, &conf, &["mbcache", "--in", "my-fs"]);
}

#[test]
fn why_without_in_reads_loaded_modules_and_modaliases() {
    let Some((tmp, version, conf)) = indexed_612() else {
        return;
    };
    let f = facts(tmp.path(), &version);
    let proc = tmp.path().join("proc-modules");
    std::fs::write(
        &proc,
        "ext4 1019904 1 - Live 0x0\njbd2 192512 1 ext4, Live 0x0\n",
    )
    .expect("write");
    // A device whose modalias e1000e claims in modules.alias (a pattern made concrete).
    let pat = f
        .aliases
        .iter()
        .find(|(p, m)| m == "e1000e" && p.starts_with("pci:"))
        .map(|(p, _)| p.clone())
        .expect("an e1000e pci alias");
    let modalias = pat.replace('*', "");
    let dev = tmp.path().join("sys/devices/pci0000:00/0000:00:19.0");
    std::fs::create_dir_all(&dev).expect("mkdir");
    std::fs::write(dev.join("modalias"), format!("{modalias}\n")).expect("write");
    let run_why = |target: &str| {
        let mut a: Vec<OsString> = vec!["why".into()];
        a.extend(f.base(&conf));
        a.push(target.into());
        std::process::Command::new(rprobe())
            .args(&a)
            .env("RPROBE_PROC_MODULES", &proc)
            .env("RPROBE_SYSFS", tmp.path().join("sys"))
            .output()
            .expect("why")
    };
    let o = run_why("crc16");
    let t = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{t}");
    assert!(t.contains("loaded module ext4 needs crc16:"), "{t}");
    let o = run_why("e1000e");
    let t = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{t}");
    assert!(
        t.contains(&format!("(modalias {modalias}) needs e1000e:")),
        "{t}"
    );
    let (_, reason) = t
        .lines()
        .find_map(|l| l.strip_prefix("  ").and_then(|l| l.split_once(": ")))
        .expect("an edge");
    f.check_edge(&modalias, "e1000e", reason);
    let o = run_why("xfs");
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stdout));
}

/// A DOT file's nodes (name -> class) and edges (from, to, class), as `rprobe graph`
/// writes them (one statement per line).
type Dot = (BTreeMap<String, String>, Vec<(String, String, String)>);

fn parse_dot(dot: &str) -> Dot {
    let class = |attrs: &str| {
        attrs
            .split("class=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("class")
            .to_string()
    };
    let unq = |s: &str| s.trim().trim_matches('"').to_string();
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    assert!(dot.starts_with("digraph "), "{dot}");
    for l in dot.lines().skip(1).filter(|l| l.starts_with("  ")) {
        let (head, attrs) = l.split_once(" [").expect("attributes");
        match head.split_once(" -> ") {
            Some((a, b)) => edges.push((unq(a), unq(b), class(attrs))),
            None => {
                nodes.insert(unq(head), class(attrs));
            }
        }
    }
    (nodes, edges)
}

#[test]
fn graph_dot_matches_kmod_plan_and_modules_dep() {
    let Some((tmp, version, conf)) = indexed_612() else {
        return;
    };
    let f = facts(tmp.path(), &version);
    for root in ["ext4", "btrfs", "xfs", "nvme"] {
        let mut a: Vec<OsString> = vec!["graph".into()];
        a.extend(f.base(&conf));
        a.push(root.into());
        let o = run(&rprobe(), &a);
        assert_no_panic(&o, root);
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        let (nodes, edges) = parse_dot(&String::from_utf8_lossy(&o.stdout));
        let modules: BTreeSet<String> = nodes
            .iter()
            .filter(|(_, c)| *c == "module")
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(
            modules,
            f.kmod_plan(&conf, root),
            "{root}: nodes vs kmod's plan"
        );
        for (a, b, _) in &edges {
            assert!(nodes.contains_key(a) && nodes.contains_key(b), "{a} -> {b}");
        }
        // Symbol edges: each target listed in modules.dep for its source, and together
        // they reach exactly modules.dep's line for the root.
        let mut reach = BTreeSet::from([root.to_string()]);
        let mut todo = vec![root.to_string()];
        while let Some(n) = todo.pop() {
            for (a, b, c) in &edges {
                if *a == n && c == "symbols" {
                    assert!(f.dep[a].1.contains(b), "modules.dep: {a} does not list {b}");
                    if reach.insert(b.clone()) {
                        todo.push(b.clone());
                    }
                }
            }
        }
        let mut want: BTreeSet<String> = f.dep[root].1.iter().cloned().collect();
        want.insert(root.to_string());
        assert_eq!(reach, want, "{root}: symbol closure vs modules.dep");
    }
}

#[test]
fn graph_svg_is_xml_with_one_node_per_module() {
    let Some((tmp, version, conf)) = indexed_612() else {
        return;
    };
    let f = facts(tmp.path(), &version);
    for root in ["ext4", "btrfs"] {
        let mut a: Vec<OsString> = vec!["graph".into()];
        a.extend(f.base(&conf));
        a.push(root.into());
        let dot = run(&rprobe(), &a);
        let (nodes, _) = parse_dot(&String::from_utf8_lossy(&dot.stdout));
        a.push("--format".into());
        a.push("svg".into());
        let o = run(&rprobe(), &a);
        assert_no_panic(&o, root);
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        let doc = roxmltree::Document::parse(&text).expect("SVG parses as XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let count = |tag: &str| {
            doc.descendants()
                .filter(|n| n.tag_name().name() == tag)
                .count()
        };
        let modules: BTreeSet<String> = f.kmod_plan(&conf, root);
        let aliases = nodes.values().filter(|c| *c == "alias").count();
        assert_eq!(count("rect"), modules.len(), "{root}: one box per module");
        assert_eq!(count("ellipse"), aliases, "{root}: one ellipse per alias");
        for m in &modules {
            let labels = doc
                .descendants()
                .filter(|n| n.tag_name().name() == "text")
                .filter(|n| n.descendants().any(|t| t.text() == Some(m.as_str())))
                .count();
            assert_eq!(labels, 1, "{root}: label of {m}");
        }
    }
}

#[test]
fn why_and_graph_on_a_synthetic_tree() {
    use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = SynthTree::new(tmp.path(), "6.1.0-synth");
    t.add(
        &SynthModule::new("base")
            .export("base_fn")
            .export("base_two"),
        "kernel/lib",
        Codec::None,
    );
    t.add(
        &SynthModule::new("mid")
            .import("base_fn")
            .import("base_two")
            .export("mid_fn"),
        "kernel/drivers",
        Codec::Xz,
    );
    t.add(
        &SynthModule::new("top")
            .import("mid_fn")
            .info("alias", "fs-top"),
        "kernel/fs",
        Codec::None,
    );
    t.add(&SynthModule::new("extra"), "kernel/misc", Codec::None);
    kmod_depmod(tmp.path(), "6.1.0-synth");
    let conf = tmp.path().join("conf.d");
    std::fs::create_dir_all(&conf).expect("mkdir");
    let file = conf.join("w.conf");
    std::fs::write(&file, "weakdep top extra\n").expect("write");
    let base: Vec<OsString> = vec![
        "-d".into(),
        tmp.path().into(),
        "-S".into(),
        "6.1.0-synth".into(),
        "-C".into(),
        conf.clone().into(),
    ];
    let rp = |args: &[&str]| {
        let mut a: Vec<OsString> = vec![args[0].into()];
        a.extend(base.iter().cloned());
        a.extend(args[1..].iter().map(OsString::from));
        let o = run(&rprobe(), &a);
        assert_no_panic(&o, args[0]);
        (code(&o), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (c, out) = rp(&["why", "base", "--in", "fs-top"]);
    assert_eq!(c, 0, "{out}");
    assert_eq!(
        out,
        "fs-top needs base:\n  fs_top -> top: alias matching 'fs-top' (modules.alias)\n  \
         top -> mid: uses mid_fn exported by mid\n  mid -> base: uses base_fn, base_two exported by base\n"
    );
    let (c, out) = rp(&["why", "extra", "--in", "top"]);
    assert_eq!(c, 0, "{out}");
    assert_eq!(
        out,
        format!(
            "top needs extra:\n  top -> extra: weak dependency ({} line 1)\n",
            file.display()
        )
    );
    let (c, out) = rp(&["why", "top", "--in", "base"]);
    assert_eq!((c, out), (1, "top is not needed by base\n".to_string()));
    let (c, dot) = rp(&["graph", "fs-top"]);
    assert_eq!(c, 0);
    let (nodes, mut edges) = parse_dot(&dot);
    let want_nodes: BTreeMap<String, String> = [
        ("fs_top", "alias"),
        ("top", "module"),
        ("mid", "module"),
        ("base", "module"),
        ("extra", "module"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(nodes, want_nodes);
    edges.sort();
    let e = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        edges,
        [
            e("fs_top", "top", "alias"),
            e("mid", "base", "symbols"),
            e("top", "extra", "weakdep"),
            e("top", "mid", "symbols"),
        ]
    );
    let (c, _) = rp(&["graph", "no-such-module"]);
    assert_eq!(c, 1);
}

/// For a fifth of the 6.12 tree's modules: the symbol edges the explanation finds reach
/// exactly the module's modules.dep line (so every dependency modprobe loads is explained
/// by named symbols, and no edge is invented).
#[test]
fn symbol_edges_reach_modules_dep_for_a_fifth_of_the_tree() {
    use rprobe_index::index::ModuleDir;
    use rprobe_resolve::explain::{EdgeKind, Explainer};
    use rprobe_resolve::{Config, Resolver};
    let Some((tmp, version, conf)) = indexed_612() else {
        return;
    };
    let f = facts(tmp.path(), &version);
    let dir = ModuleDir::open(&f.moddir).expect("open");
    let cfg = Config::load(Generation::Kmod30, Some(&[conf]), Some(&f.moddir), None);
    let r = Resolver {
        dir: &dir,
        config: &cfg,
    };
    let roots = every(&f.dep.keys().cloned().collect::<Vec<_>>(), 5);
    let mut x = Explainer::new(&r);
    for m in &roots {
        x.add_request(m).expect("request");
    }
    let g = x.finish();
    let mut symbols: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &g.edges {
        match &e.kind {
            EdgeKind::Symbols(s) => {
                assert!(!s.is_empty(), "{e:?}");
                symbols.entry(&e.from).or_default().push(&e.to);
            }
            EdgeKind::Dependency => panic!("a module file could not be read: {e:?}"),
            _ => {}
        }
    }
    let mut with_deps = 0;
    for m in &roots {
        let mut reach = BTreeSet::new();
        let mut todo = vec![m.as_str()];
        while let Some(n) = todo.pop() {
            for t in symbols.get(n).into_iter().flatten() {
                if reach.insert(t.to_string()) {
                    todo.push(t);
                }
            }
        }
        let want: BTreeSet<String> = f.dep[m].1.iter().cloned().collect();
        assert_eq!(reach, want, "{m}: symbol closure vs modules.dep");
        with_deps += usize::from(!want.is_empty());
    }
    assert!(
        with_deps > 200,
        "only {with_deps} modules with dependencies"
    );
}
