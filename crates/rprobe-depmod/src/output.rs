//! The index writers: one table of {file name, binary?, writer}, built in parallel and
//! written atomically, or printed (the text ones) with -n.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::graph::{all_deps_sorted, infos, key_values, Graph};
use crate::{Error, Result};
use crate::{Level, Options};
use rprobe_index::index::trie::TrieBuilder;
use rprobe_index::name;

/// Adds a key to a binary index; a key the format cannot hold (not 7-bit ASCII) is left out
/// of this index with a warning naming where it came from. True for a duplicate.
fn insert(
    t: &mut TrieBuilder,
    key: &str,
    value: &str,
    priority: u32,
    from: &str,
    log: &mut dyn FnMut(Level, String),
) -> bool {
    match t.insert(key, value, priority) {
        Ok(dup) => dup,
        Err(e) => {
            log(
                Level::Warning,
                format!("{from}: {e}: left out of the index"),
            );
            false
        }
    }
}

pub(crate) type Writer =
    fn(&Graph, &str, &mut dyn FnMut(Level, String), &Options) -> Option<Vec<u8>>;

pub(crate) fn out_dep(
    g: &Graph,
    _: &str,
    _: &mut dyn FnMut(Level, String),
    _: &Options,
) -> Option<Vec<u8>> {
    let mut o = Vec::new();
    for (i, m) in g.mods.iter().enumerate() {
        o.extend_from_slice(m.shown_path().as_bytes());
        o.push(b':');
        for d in all_deps_sorted(g, i) {
            o.push(b' ');
            o.extend_from_slice(g.mods[d].shown_path().as_bytes());
        }
        o.push(b'\n');
    }
    Some(o)
}

pub(crate) fn out_dep_bin(
    g: &Graph,
    _: &str,
    log: &mut dyn FnMut(Level, String),
    opts: &Options,
) -> Option<Vec<u8>> {
    let mut t = TrieBuilder::new();
    for (i, m) in g.mods.iter().enumerate() {
        let mut line = format!("{}:", m.shown_path());
        for d in all_deps_sorted(g, i) {
            line.push(' ');
            line.push_str(g.mods[d].shown_path());
        }
        if insert(&mut t, &m.modname, &line, i as u32, &m.path, log) && opts.warn_dups {
            log(Level::Warning, format!("duplicate module deps:\n{line}"));
        }
    }
    Some(t.to_bytes_as(opts.generation.index_layout()))
}

pub(crate) fn out_alias(
    g: &Graph,
    _: &str,
    _: &mut dyn FnMut(Level, String),
    _: &Options,
) -> Option<Vec<u8>> {
    let mut o = b"# Aliases extracted from modules themselves.\n".to_vec();
    for (_, m, v) in key_values(g, "alias") {
        o.extend_from_slice(format!("alias {v} {}\n", m.modname).as_bytes());
    }
    Some(o)
}

pub(crate) fn out_alias_bin(
    g: &Graph,
    _: &str,
    log: &mut dyn FnMut(Level, String),
    opts: &Options,
) -> Option<Vec<u8>> {
    let mut t = TrieBuilder::new();
    for (i, m, v) in key_values(g, "alias") {
        let Some(a) = rprobe_index::name::alias_normalize(v) else {
            log(Level::Warning, format!("Unmatched bracket in {v}"));
            continue;
        };
        if insert(&mut t, &a, &m.modname, i as u32, &m.path, log) && opts.warn_dups {
            log(
                Level::Warning,
                format!("duplicate module alias:\n{a} {}", m.modname),
            );
        }
    }
    Some(t.to_bytes_as(opts.generation.index_layout()))
}

pub(crate) fn out_softdep(
    g: &Graph,
    _: &str,
    _: &mut dyn FnMut(Level, String),
    _: &Options,
) -> Option<Vec<u8>> {
    Some(keyword_lines(
        g,
        "softdep",
        "# Soft dependencies extracted from modules themselves.\n",
    ))
}

/// A header, then one `KEY MODULE VALUE` line per modinfo `KEY=` value (modules in
/// modules.dep order, values in modinfo order): modules.softdep and modules.weakdep.
fn keyword_lines(g: &Graph, key: &str, header: &str) -> Vec<u8> {
    let mut o = header.as_bytes().to_vec();
    for (_, m, v) in key_values(g, key) {
        o.extend_from_slice(format!("{key} {} {v}\n", m.modname).as_bytes());
    }
    o
}

/// modules.weakdep as kmod 33+ writes it: one `weakdep MODULE VALUE` line per modinfo
/// `weakdep=` value, modules in modules.dep order, values in modinfo order.
pub(crate) fn out_weakdep(
    g: &Graph,
    _: &str,
    _: &mut dyn FnMut(Level, String),
    _: &Options,
) -> Option<Vec<u8>> {
    Some(keyword_lines(
        g,
        "weakdep",
        "# Weak dependencies extracted from modules themselves.\n",
    ))
}

pub(crate) fn out_symbols(
    g: &Graph,
    _: &str,
    _: &mut dyn FnMut(Level, String),
    _: &Options,
) -> Option<Vec<u8>> {
    let mut o = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    for (s, owner) in &g.symbols {
        o.extend_from_slice(format!("alias symbol:{s} {}\n", g.mods[*owner].modname).as_bytes());
    }
    Some(o)
}

pub(crate) fn out_symbols_bin(
    g: &Graph,
    _: &str,
    log: &mut dyn FnMut(Level, String),
    opts: &Options,
) -> Option<Vec<u8>> {
    let mut t = TrieBuilder::new();
    for (s, owner) in &g.symbols {
        let key = format!("symbol:{s}");
        if insert(
            &mut t,
            &key,
            &g.mods[*owner].modname,
            *owner as u32,
            &g.mods[*owner].path,
            log,
        ) && opts.warn_dups
        {
            log(
                Level::Warning,
                format!("duplicate module syms:\n{key} {}", g.mods[*owner].modname),
            );
        }
    }
    Some(t.to_bytes_as(opts.generation.index_layout()))
}

/// A file of the module directory, or None after kmod's warning when it cannot be read.
pub(crate) fn read_tree_file(
    dirname: &str,
    name: &str,
    log: &mut dyn FnMut(Level, String),
) -> Option<Vec<u8>> {
    match std::fs::read(format!("{dirname}/{name}")) {
        Ok(d) => Some(d),
        Err(e) => {
            log(
                Level::Warning,
                format!(
                    "could not open {name} at {dirname}: {}",
                    rprobe_index::error::io_text(&e)
                ),
            );
            None
        }
    }
}

pub(crate) fn out_builtin_bin(
    _: &Graph,
    dirname: &str,
    log: &mut dyn FnMut(Level, String),
    opts: &Options,
) -> Option<Vec<u8>> {
    // kmod still writes (an empty) index when the input is missing, after a warning.
    let Some(text) = read_tree_file(dirname, "modules.builtin", log) else {
        return Some(Vec::new());
    };
    let text = String::from_utf8_lossy(&text);
    let mut t = TrieBuilder::new();
    for line in text.split_inclusive('\n') {
        if !line
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic())
        {
            log(
                Level::Error,
                format!("Invalid modules.builtin line: {line}"),
            );
            continue;
        }
        let name = name::modname_from_path(Path::new(line.trim_end_matches('\n')));
        insert(&mut t, &name, "", 0, "modules.builtin", log);
    }
    Some(t.to_bytes_as(opts.generation.index_layout()))
}

pub(crate) fn out_builtin_alias_bin(
    _: &Graph,
    dirname: &str,
    log: &mut dyn FnMut(Level, String),
    opts: &Options,
) -> Option<Vec<u8>> {
    let Some(data) = read_tree_file(dirname, "modules.builtin.modinfo", log) else {
        return Some(Vec::new());
    };
    let mut t = TrieBuilder::new();
    for s in data.split(|&b| b == 0) {
        let s = String::from_utf8_lossy(s);
        let Some((modname, kv)) = s.split_once('.') else {
            continue;
        };
        let Some(("alias", value)) = kv.split_once('=') else {
            continue;
        };
        if value.is_empty() || modname.is_empty() {
            continue;
        }
        let Some(a) = rprobe_index::name::alias_normalize(value) else {
            log(Level::Warning, format!("Unmatched bracket in {value}"));
            continue;
        };
        insert(&mut t, &a, modname, 0, "modules.builtin.modinfo", log);
    }
    Some(t.to_bytes_as(opts.generation.index_layout()))
}

pub(crate) fn out_devname(
    g: &Graph,
    _: &str,
    log: &mut dyn FnMut(Level, String),
    _: &Options,
) -> Option<Vec<u8>> {
    let mut o = Vec::new();
    for (i, m) in g.mods.iter().enumerate() {
        let mut devname: Option<&str> = None;
        let mut dev: Option<(char, u32, u32)> = None;
        for (k, v) in infos(g, i) {
            if k != "alias" {
                continue;
            }
            if let Some(d) = v.strip_prefix("devname:") {
                devname = Some(d);
            } else if let Some(mm) = parse_major_minor(v, "char-major-") {
                dev = Some(('c', mm.0, mm.1));
            } else if let Some(mm) = parse_major_minor(v, "block-major-") {
                dev = Some(('b', mm.0, mm.1));
            }
            if dev.is_some() && devname.is_some() {
                break;
            }
        }
        if let Some(d) = devname {
            match dev {
                Some((t, a, b)) => {
                    if o.is_empty() {
                        o.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
                    }
                    o.extend_from_slice(format!("{} {d} {t}{a}:{b}\n", m.modname).as_bytes());
                }
                None => log(
                    Level::Error,
                    format!(
                        "Module '{}' has devname ({d}) but lacks major and minor information. Ignoring.",
                        m.modname
                    ),
                ),
            }
        }
    }
    Some(o)
}

/// sscanf("%u-%u") after a prefix: digits, '-', digits (trailing text allowed).
pub(crate) fn parse_major_minor(v: &str, prefix: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix(prefix)?;
    let (a, rest) = split_num(rest)?;
    let rest = rest.strip_prefix('-')?;
    let (b, _) = split_num(rest)?;
    Some((a, b))
}

pub(crate) fn split_num(s: &str) -> Option<(u32, &str)> {
    let s2 = s.trim_start();
    let n = s2.bytes().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    Some((s2[..n].parse().ok()?, &s2[n..]))
}

/// One index file: its name, whether it is binary (not printed with -n), its writer.
pub(crate) struct Output {
    /// The file name in the module directory.
    pub name: &'static str,
    /// A binary (trie) index.
    pub binary: bool,
    /// A file kmod 30 does not write: written in kmod 34 mode, or when asked
    /// ([`Options::weakdep`]).
    pub optional: bool,
    write: Writer,
}

impl Output {
    /// Whether this run writes (or prints) the file.
    fn wanted(&self, opts: &Options) -> bool {
        !self.optional || opts.weakdep || opts.generation.writes_weakdep()
    }
}

/// The files kmod's depmod writes, in its order: kmod 30's, and kmod 33's modules.weakdep
/// (after modules.softdep, as kmod 33 and 34 write it) in kmod 34 mode or when asked.
pub(crate) const TABLE: [Output; 11] = [
    Output {
        name: "modules.dep",
        binary: false,
        optional: false,
        write: out_dep,
    },
    Output {
        name: "modules.dep.bin",
        binary: true,
        optional: false,
        write: out_dep_bin,
    },
    Output {
        name: "modules.alias",
        binary: false,
        optional: false,
        write: out_alias,
    },
    Output {
        name: "modules.alias.bin",
        binary: true,
        optional: false,
        write: out_alias_bin,
    },
    Output {
        name: "modules.softdep",
        binary: false,
        optional: false,
        write: out_softdep,
    },
    Output {
        name: "modules.weakdep",
        binary: false,
        optional: true,
        write: out_weakdep,
    },
    Output {
        name: "modules.symbols",
        binary: false,
        optional: false,
        write: out_symbols,
    },
    Output {
        name: "modules.symbols.bin",
        binary: true,
        optional: false,
        write: out_symbols_bin,
    },
    Output {
        name: "modules.builtin.bin",
        binary: true,
        optional: false,
        write: out_builtin_bin,
    },
    Output {
        name: "modules.builtin.alias.bin",
        binary: true,
        optional: false,
        write: out_builtin_alias_bin,
    },
    Output {
        name: "modules.devname",
        binary: false,
        optional: false,
        write: out_devname,
    },
];

/// The files depmod writes with `opts`, in kmod's order, with `true` for the binary ones.
pub fn outputs(opts: &Options) -> impl Iterator<Item = (&'static str, bool)> + '_ {
    TABLE
        .iter()
        .filter(|o| o.wanted(opts))
        .map(|o| (o.name, o.binary))
}

/// The module directory the indexes are written to: under -o's root, else the tree's own.
pub(crate) fn output_dir(opts: &Options, dirname: &str) -> PathBuf {
    match &opts.outdir {
        Some(o) => PathBuf::from(dirname_for(o, opts)),
        None => PathBuf::from(dirname),
    }
}

/// Builds every index and writes it (or, with -n, prints the text ones to `print`).
pub(crate) fn write_outputs(
    opts: &Options,
    dirname: &str,
    g: &Graph,
    log: &mut dyn FnMut(Level, String),
    print: &mut dyn Write,
) -> Result<bool> {
    if opts.to_stdout {
        for o in TABLE.iter().filter(|o| !o.binary && o.wanted(opts)) {
            if let Some(b) = (o.write)(g, dirname, log, opts) {
                print.write_all(&b).map_err(|e| Error::io("<stdout>", e))?;
            }
        }
        print.flush().map_err(|e| Error::io("<stdout>", e))?;
        return Ok(true);
    }
    let outdir = output_dir(opts, dirname);
    if opts.outdir.is_some() {
        std::fs::create_dir_all(&outdir).map_err(|e| Error::io(&outdir, e))?;
    }
    // Build everything in parallel, then write each file atomically: a reader sees the old
    // file or the new one.
    let contents: Vec<Option<Vec<u8>>> = {
        let mut logs: Vec<Vec<(Level, String)>> = vec![Vec::new(); TABLE.len()];
        let out: Vec<Option<Vec<u8>>> = TABLE
            .par_iter()
            .zip(logs.par_iter_mut())
            .map(|(o, l)| {
                if !o.wanted(opts) {
                    return None;
                }
                (o.write)(g, dirname, &mut |lv, m| l.push((lv, m)), opts)
            })
            .collect();
        for l in logs {
            for (lv, m) in l {
                log(lv, m);
            }
        }
        out
    };
    // No content: kmod writes no file (builtin indexes without their input).
    let paths: Vec<(&str, std::path::PathBuf, Vec<u8>)> = TABLE
        .iter()
        .zip(contents)
        .filter_map(|(o, c)| Some((o.name, outdir.join(o.name), c?)))
        .collect();
    let batch: Vec<(&Path, &[u8])> = paths
        .iter()
        .map(|(_, p, c)| (p.as_path(), c.as_slice()))
        .collect();
    if let Err((i, e)) = crate::atomic::write_many(&batch) {
        let (name, path, _) = &paths[i];
        log(
            Level::Error,
            format!(
                "Could not write index '{name}': {}",
                rprobe_index::error::io_text(&e)
            ),
        );
        return Err(Error::io(path, e));
    }
    Ok(true)
}

pub(crate) fn dirname_for(root: &Path, opts: &Options) -> String {
    crate::dirname(&Some(root.to_path_buf()), &opts.moduledir, &opts.kversion)
}
