//! modprobe.d configuration and the kernel command line, as kmod reads them: files from
//! the configuration directories (or -C paths) plus the module directory's modules.softdep,
//! sorted by file name with the first of equal names winning; directives alias, options,
//! install, remove, blacklist, softdep (and weakdep); then `modprobe.blacklist=` and
//! `MODULE.PARAM=VALUE` from the kernel command line.

use rprobe_index::generation::Generation;
use std::path::{Path, PathBuf};

/// A message about the configuration, as libkmod reports it while reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The libkmod function that reports it (kmod 34's messages name it).
    pub function: &'static str,
    /// The message.
    pub text: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A softdep (or weakdep) line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Softdep {
    /// The module name (an fnmatch pattern).
    pub name: String,
    /// Modules loaded before.
    pub pre: Vec<String>,
    /// Modules loaded after.
    pub post: Vec<String>,
}

/// The whole configuration, each list in file order.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `alias PATTERN MODULE`
    pub aliases: Vec<(String, String)>,
    /// `blacklist MODULE`
    pub blacklist: Vec<String>,
    /// `options MODULE OPTIONS`
    pub options: Vec<(String, String)>,
    /// `install MODULE COMMAND`
    pub install: Vec<(String, String)>,
    /// `remove MODULE COMMAND`
    pub remove: Vec<(String, String)>,
    /// `softdep MODULE pre: ... post: ...`
    pub softdeps: Vec<Softdep>,
    /// `weakdep MODULE MODULE...`
    pub weakdeps: Vec<(String, Vec<String>)>,
    /// Messages for the user (kmod prints them as errors): bad lines and the like.
    pub notes: Vec<Note>,
    /// Where each directive came from (file and line), in reading order: see
    /// [`Config::origin`].
    pub origins: Vec<Origin>,
    /// First-match tables over the pattern lists, built on the first lookup.
    index: std::sync::OnceLock<Tables>,
    /// Report `weakdep` lines as bad lines, as kmod 30 does (they are kept all the same).
    weakdep_is_bad: bool,
}

/// The first pattern of a list that matches a name, found without trying every pattern:
/// literal patterns (no fnmatch special character) by hash, the others in order. kmod
/// tries each pattern in turn (fnmatch); the answer is the same, the first match in list
/// order.
#[derive(Clone, Debug, Default)]
struct FirstMatch {
    /// Each literal pattern's first position.
    literal: std::collections::HashMap<String, usize, foldhash::fast::RandomState>,
    /// The positions of the other patterns, rising.
    wild: Vec<usize>,
    /// How long the list was when the table was built; another length (a caller changed
    /// the public list) means the table is stale and the list is searched in full.
    len: usize,
}

impl FirstMatch {
    fn new<'a>(patterns: impl Iterator<Item = &'a str>) -> FirstMatch {
        let mut t = FirstMatch::default();
        for (i, p) in patterns.enumerate() {
            t.len = i + 1;
            if p.bytes().any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\')) {
                t.wild.push(i);
            } else {
                t.literal.entry(p.to_string()).or_insert(i);
            }
        }
        t
    }

    /// The position of the first of the `len` patterns (`pattern(i)` is the i-th) that
    /// matches `name`.
    fn find<'a>(
        &self,
        len: usize,
        pattern: impl Fn(usize) -> &'a str,
        name: &str,
    ) -> Option<usize> {
        if len != self.len {
            return (0..len).find(|&i| fnmatch(pattern(i), name));
        }
        let lit = self.literal.get(name).copied();
        self.wild
            .iter()
            .copied()
            .take_while(|&i| lit.is_none_or(|l| i < l))
            .find(|&i| fnmatch(pattern(i), name))
            .or(lit)
    }
}

/// [`FirstMatch`] tables for the lists looked up by pattern.
#[derive(Clone, Debug, Default)]
struct Tables {
    install: FirstMatch,
    remove: FirstMatch,
    softdeps: FirstMatch,
    weakdeps: FirstMatch,
}

/// Where one configuration directive was read: for explanations (`rprobe why`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The directive (`alias`, `softdep`, `weakdep`, `options`, ...).
    pub directive: String,
    /// Its first argument as stored (the alias pattern, or the module name or pattern).
    pub name: String,
    /// The file it was read from (as given to [`Config::parse`]).
    pub file: String,
    /// The line number in that file, as kmod numbers lines in its messages (a line continued
    /// with a backslash counts as its last physical line).
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file, self.line)
    }
}

/// The modprobe.d files `generation`'s kmod reads from `paths` (None: its default
/// directories, [`rprobe_index::moddir::config_dirs`]), added to `files` as (file name,
/// path) in reading order; a name seen earlier hides later ones. kmod 30 reads `*.conf`
/// and `*.alias`, kmod 34 `*.conf` only.
pub fn collect_config_files(
    paths: Option<&[PathBuf]>,
    generation: Generation,
    files: &mut Vec<(String, PathBuf)>,
) {
    let defaults = rprobe_index::moddir::config_dirs("modprobe.d", generation);
    let suffixes: &[&str] = if generation.reads_alias_files() {
        &[".conf", ".alias"]
    } else {
        &[".conf"]
    };
    let _ = rprobe_index::conf::collect_files(paths.unwrap_or(&defaults), suffixes, files);
}

impl Config {
    /// Loads the configuration as `generation`'s kmod does: `paths` (None: its default
    /// directories), the module directory's modules.softdep and modules.weakdep, then the
    /// kernel command line from `cmdline` (None: not read).
    pub fn load(
        generation: Generation,
        paths: Option<&[PathBuf]>,
        moddir: Option<&Path>,
        cmdline: Option<&Path>,
    ) -> Config {
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        if let Some(d) = moddir {
            rprobe_index::conf::insert_sorted(
                &mut files,
                "modules.softdep".into(),
                d.join("modules.softdep"),
            );
            // kmod 33+ reads the weak dependencies depmod extracted the same way; rprobe
            // does in kmod 30 mode too (kmod 30's depmod writes no modules.weakdep, so only
            // `depmod --weakdep` or a newer depmod's file changes anything there).
            rprobe_index::conf::insert_sorted(
                &mut files,
                "modules.weakdep".into(),
                d.join("modules.weakdep"),
            );
        }
        collect_config_files(paths, generation, &mut files);
        let mut cfg = Config {
            weakdep_is_bad: !generation.knows_weakdep_lines(),
            ..Config::default()
        };
        for (_, f) in files {
            if let Ok(text) = std::fs::read(&f) {
                cfg.parse(&rprobe_index::name::text(&text), &f.to_string_lossy());
            }
        }
        if let Some(c) = cmdline {
            if let Ok(text) = std::fs::read(c) {
                cfg.parse_kcmdline(&rprobe_index::name::text(&text));
            }
        }
        cfg
    }

    /// Parses one configuration file's text (`name` only for messages).
    pub fn parse(&mut self, text: &str, name: &str) {
        self.index = std::sync::OnceLock::new();
        for (linenum, line) in rprobe_index::conf::logical_lines(text) {
            self.parse_line(&line, name, linenum);
        }
    }

    fn parse_line(&mut self, line: &str, name: &str, linenum: usize) {
        if line.is_empty() || line.starts_with('#') {
            return;
        }
        let (cmd, rest) = split_tok(line);
        let Some(cmd) = cmd else { return };
        let ok = match cmd {
            "alias" => {
                let (a, r) = split_tok(rest);
                let (m, _) = split_tok(r);
                match (a.and_then(normalized), m.and_then(normalized)) {
                    (Some(a), Some(m)) => {
                        self.aliases.push((a, m));
                        true
                    }
                    _ => false,
                }
            }
            "blacklist" => match split_tok(rest).0.and_then(normalized) {
                Some(m) => {
                    self.blacklist.push(m);
                    true
                }
                None => false,
            },
            "options" | "install" | "remove" | "softdep" | "weakdep" => {
                let (m, r) = split_tok(rest);
                let value = r.trim_start_matches([' ', '\t']);
                // kmod takes the rest of the line after the name's delimiter as it is: a
                // weakdep line needs only something there, even blanks (it then names no
                // module: kmod 34's testsuite has `weakdep mod-loop-a <TAB>`). A softdep
                // line needs a word.
                let present = match cmd {
                    "weakdep" => !r.is_empty(),
                    _ => !value.is_empty(),
                };
                match m.and_then(normalized) {
                    Some(m) if present => {
                        match cmd {
                            "options" => self.options.push((m, value.to_string())),
                            "install" => self.install.push((m, value.to_string())),
                            "remove" => self.remove.push((m, value.to_string())),
                            "softdep" => self.softdeps.push(parse_softdep(m, value)),
                            _ => self
                                .weakdeps
                                .push((m, value.split_whitespace().map(str::to_string).collect())),
                        }
                        true
                    }
                    _ => false,
                }
            }
            "include" | "config" => {
                self.notes.push(Note {
                    function: "kmod_config_parse",
                    text: format!("{name}: command {cmd} is deprecated and not parsed anymore"),
                });
                true
            }
            _ => false,
        };
        if ok && cmd != "include" && cmd != "config" {
            if let Some(n) = split_tok(rest).0.and_then(normalized) {
                self.origins.push(Origin {
                    directive: cmd.to_string(),
                    name: n,
                    file: name.to_string(),
                    line: linenum,
                });
            }
        }
        if !ok || (cmd == "weakdep" && self.weakdep_is_bad) {
            self.notes.push(Note {
                function: "kmod_config_parse",
                text: format!("{name} line {linenum}: ignoring bad line starting with '{cmd}'"),
            });
        }
    }

    /// Parses a kernel command line: `modprobe.blacklist=a,b` and `MODULE.PARAM[=VALUE]`,
    /// with kmod's quoting rules (a quoted value may hold spaces; a quote opening before the
    /// module name is moved to the value).
    pub fn parse_kcmdline(&mut self, line: &str) {
        self.index = std::sync::OnceLock::new();
        let b = line.as_bytes();
        #[derive(PartialEq)]
        enum St {
            Modname,
            Param,
            Value,
            Ignore,
        }
        let mut st = St::Modname;
        let mut quoted = false;
        let (mut modname_start, mut param_start, mut value_start) = (0usize, 0usize, None::<usize>);
        let mut quote_start: Option<usize> = None;
        let mut modname_end = 0usize;
        let mut i = 0usize;
        loop {
            let c = b.get(i).copied().unwrap_or(0);
            let mut complete = None;
            match c {
                b'"' => {
                    quoted = !quoted;
                    if quoted && st == St::Modname && i == modname_start {
                        quote_start = Some(i);
                        modname_start = i + 1;
                    } else if st != St::Value {
                        st = St::Ignore;
                    }
                }
                0 | b' ' | b'\n' | b'\t' | 0x0b | 0x0c | b'\r' => {
                    if quoted && st == St::Value {
                    } else if quoted {
                        st = St::Ignore;
                    } else if st == St::Value || st == St::Param {
                        complete = Some(i);
                    } else {
                        modname_start = i + 1;
                        st = St::Modname;
                        quote_start = None;
                    }
                }
                b'.' => {
                    if st == St::Modname {
                        modname_end = i;
                        param_start = i + 1;
                        st = St::Param;
                    } else if st == St::Param {
                        st = St::Ignore;
                    }
                }
                b'=' => {
                    if st == St::Param {
                        value_start = Some(i + 1);
                        st = St::Value;
                    } else if st == St::Modname {
                        st = St::Ignore;
                    }
                }
                _ => {}
            }
            if let Some(end) = complete {
                let modname = String::from_utf8_lossy(&b[modname_start..modname_end]).into_owned();
                let mut param = String::from_utf8_lossy(&b[param_start..end]).into_owned();
                if let (Some(_), Some(v)) = (quote_start, value_start) {
                    // Re-quote: "mod.param=a b" becomes param="a b".
                    let name = String::from_utf8_lossy(&b[param_start..v]).into_owned();
                    let val = String::from_utf8_lossy(&b[v..end]).into_owned();
                    param = format!("{name}\"{val}");
                }
                self.kcmdline_result(&modname, &param);
                modname_start = end + 1;
                st = St::Modname;
                quote_start = None;
                value_start = None;
            }
            if c == 0 {
                break;
            }
            i += 1;
        }
    }

    fn kcmdline_result(&mut self, modname: &str, param: &str) {
        if modname == "modprobe" && param.starts_with("blacklist=") {
            for t in param["blacklist=".len()..].split(',') {
                self.blacklist.push(t.to_string());
            }
        } else {
            match normalized(modname) {
                Some(m) => self.options.push((m, param.to_string())),
                None => self.notes.push(Note {
                    function: "kcmdline_parse_result",
                    text: format!(
                        "Ignoring bad option on kernel command line while parsing module name: '{modname}'"
                    ),
                }),
            }
        }
    }

    /// The options configured for a module (name or alias it was looked up by), joined
    /// with spaces in configuration order.
    pub fn options_for(&self, name: &str, alias: Option<&str>) -> Option<String> {
        let v: Vec<&str> = self
            .options
            .iter()
            .filter(|(m, o)| (m == name || Some(m.as_str()) == alias) && !o.is_empty())
            .map(|(_, o)| o.as_str())
            .collect();
        if v.is_empty() {
            None
        } else {
            Some(v.join(" "))
        }
    }

    /// The lookup tables, built on first use.
    fn tables(&self) -> &Tables {
        self.index.get_or_init(|| Tables {
            install: FirstMatch::new(self.install.iter().map(|(m, _)| m.as_str())),
            remove: FirstMatch::new(self.remove.iter().map(|(m, _)| m.as_str())),
            softdeps: FirstMatch::new(self.softdeps.iter().map(|s| s.name.as_str())),
            weakdeps: FirstMatch::new(self.weakdeps.iter().map(|(p, _)| p.as_str())),
        })
    }

    /// The first install command whose pattern matches the module name.
    pub fn install_for(&self, name: &str) -> Option<&str> {
        let l = &self.install;
        let i = self.tables().install.find(l.len(), |i| &l[i].0, name)?;
        Some(l[i].1.as_str())
    }

    /// The first remove command whose pattern matches the module name.
    pub fn remove_for(&self, name: &str) -> Option<&str> {
        let l = &self.remove;
        let i = self.tables().remove.find(l.len(), |i| &l[i].0, name)?;
        Some(l[i].1.as_str())
    }

    /// The modules of the first weakdep line whose pattern matches the module name (kmod
    /// 33+ uses only the first, as for softdeps).
    pub fn weakdeps_for(&self, name: &str) -> &[String] {
        let l = &self.weakdeps;
        match self.tables().weakdeps.find(l.len(), |i| &l[i].0, name) {
            Some(i) => &l[i].1,
            None => &[],
        }
    }

    /// The first softdep line whose pattern matches the module name.
    pub fn softdep_for(&self, name: &str) -> Option<&Softdep> {
        let l = &self.softdeps;
        let i = self.tables().softdeps.find(l.len(), |i| &l[i].name, name)?;
        Some(&l[i])
    }

    /// Where the first `directive` line whose first argument is `name` was read (for a
    /// softdep: pass the pattern [`Config::softdep_for`] returned).
    pub fn origin(&self, directive: &str, name: &str) -> Option<&Origin> {
        self.origins
            .iter()
            .find(|o| o.directive == directive && o.name == name)
    }

    /// True when the module is blacklisted.
    pub fn is_blacklisted(&self, name: &str) -> bool {
        self.blacklist.iter().any(|b| b == name)
    }

    /// `modprobe -c` output for the configuration part (before the index dump).
    pub fn show(&self) -> String {
        let mut o = String::new();
        for b in &self.blacklist {
            o.push_str(&format!("blacklist {b}\n"));
        }
        for (m, c) in &self.install {
            o.push_str(&format!("install {m} {c}\n"));
        }
        for (m, c) in &self.remove {
            o.push_str(&format!("remove {m} {c}\n"));
        }
        for (a, m) in &self.aliases {
            o.push_str(&format!("alias {a} {m}\n"));
        }
        for (m, opt) in &self.options {
            o.push_str(&format!("options {m} {opt}\n"));
        }
        for s in &self.softdeps {
            o.push_str(&format!("softdep {} {}\n", s.name, s.plain()));
        }
        for (m, w) in &self.weakdeps {
            o.push_str(&format!("weakdep {m} {}\n", w.join(" ")));
        }
        o
    }
}

impl Softdep {
    /// The value as kmod prints it (`modprobe -c`, kmod_config_iter_get_value): "pre: A B"
    /// then "post: C", nothing between the two parts.
    pub fn plain(&self) -> String {
        let mut v = String::new();
        if !self.pre.is_empty() {
            v.push_str("pre: ");
            v.push_str(&self.pre.join(" "));
        }
        if !self.post.is_empty() {
            v.push_str("post: ");
            v.push_str(&self.post.join(" "));
        }
        v
    }
}

fn split_tok(s: &str) -> (Option<&str>, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() {
        return (None, "");
    }
    match s.find([' ', '\t']) {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None => (Some(s), ""),
    }
}

fn parse_softdep(name: String, line: &str) -> Softdep {
    let mut d = Softdep {
        name,
        pre: Vec::new(),
        post: Vec::new(),
    };
    let mut mode = 0;
    for t in line
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        match t {
            "pre:" => mode = 1,
            "post:" => mode = 2,
            _ if mode == 1 => d.pre.push(t.to_string()),
            _ if mode == 2 => d.post.push(t.to_string()),
            _ => {}
        }
    }
    d
}

/// fnmatch(3) without flags.
pub fn fnmatch(pattern: &str, s: &str) -> bool {
    rprobe_index::index::trie::fnmatch(pattern.as_bytes(), s.as_bytes())
}

/// A name or alias from configuration, normalised as kmod keeps it ([`alias_normalize`]).
///
/// [`alias_normalize`]: rprobe_index::name::alias_normalize
fn normalized(s: &str) -> Option<String> {
    rprobe_index::name::alias_normalize(s).map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_command_line() {
        let mut c = Config::default();
        c.parse_kcmdline("quiet modprobe.blacklist=a,b-c snd-hda.model=x \"e1000e.x=1 2\" bad.x.y=1 foo.bar=\"a b\"\n");
        assert_eq!(c.blacklist, ["a", "b-c"]);
        assert_eq!(
            c.options,
            [
                ("snd_hda".to_string(), "model=x".to_string()),
                ("e1000e".to_string(), "x=\"1 2\"".to_string()),
                ("foo".to_string(), "bar=\"a b\"".to_string())
            ]
        );
    }

    #[test]
    fn directives() {
        let mut c = Config::default();
        c.parse(
            "# c\nalias my-alias real-mod\noptions a-b x=1 \\\n y=2\ninstall m /bin/true\nsoftdep s pre: p1 p2 post: q\nblacklist bl\nbogus\n",
            "f.conf",
        );
        assert_eq!(
            c.aliases,
            [("my_alias".to_string(), "real_mod".to_string())]
        );
        assert_eq!(c.options_for("a_b", None).as_deref(), Some("x=1  y=2"));
        assert_eq!(c.install_for("m"), Some("/bin/true"));
        assert_eq!(c.softdep_for("s").map(|s| s.pre.len()), Some(2));
        assert!(c.is_blacklisted("bl"));
        let o = c.origin("softdep", "s").expect("softdep origin");
        assert_eq!((o.file.as_str(), o.line), ("f.conf", 6));
        assert_eq!(c.origin("options", "a_b").map(|o| o.line), Some(4));
        let notes: Vec<String> = c.notes.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            notes,
            ["f.conf line 8: ignoring bad line starting with 'bogus'"]
        );
        assert_eq!(c.notes[0].function, "kmod_config_parse");
    }
}
