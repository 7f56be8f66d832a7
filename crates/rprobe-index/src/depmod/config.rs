//! depmod.d configuration: `search`, `override`, `external` and `exclude`, read from the
//! same directories as kmod (a file name in an earlier directory hides the same name in a
//! later one; files are read in name order; only *.conf).

use std::path::{Path, PathBuf};

/// The directories kmod's depmod reads when no -C is given.
pub const DEFAULT_DIRS: [&str; 4] = [
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/lib/depmod.d",
];

/// One entry of the search list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Search {
    /// `built-in`: the kernel's own directories.
    Builtin,
    /// `external`: the external directories.
    External,
    /// A subdirectory of the module directory.
    Path(String),
}

/// The parsed configuration. Lists are kept in kmod's order (the last line read first).
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Search priorities: a later index wins.
    pub searches: Vec<Search>,
    /// `override MODULE VERSION SUBDIR` as "SUBDIR/MODULE".
    pub overrides: Vec<String>,
    /// External directories.
    pub externals: Vec<PathBuf>,
    /// Directory names never entered.
    pub excludes: Vec<String>,
}

/// What parsing said, for the caller to print: (is_error, message).
pub type Notes = Vec<(bool, String)>;

impl Config {
    /// Loads configuration from `paths` (files or directories) for kernel `kversion`.
    pub fn load(paths: &[PathBuf], kversion: &str, notes: &mut Notes) -> Config {
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for n in collect_files(paths, &[".conf"], &mut files) {
            notes.push((true, n));
        }
        let mut cfg = Config::default();
        for (_, f) in &files {
            cfg.parse_file(f, kversion, notes);
        }
        if cfg.searches.is_empty() {
            cfg.searches.insert(0, Search::Path("updates".into()));
        }
        cfg
    }

    fn parse_file(&mut self, path: &Path, kversion: &str, notes: &mut Notes) {
        let text = match std::fs::read(path) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) => {
                notes.push((true, format!("file parse {}: {e}", path.display())));
                return;
            }
        };
        for (linenum, line) in logical_lines(&text) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut w = line.split([' ', '\t']).filter(|s| !s.is_empty());
            let Some(cmd) = w.next() else { continue };
            let bad = |notes: &mut Notes| {
                notes.push((
                    true,
                    format!(
                        "{}:{}: ignoring bad line starting with '{}'",
                        path.display(),
                        linenum,
                        cmd
                    ),
                ))
            };
            match cmd {
                "search" => {
                    for s in w {
                        let s = match s {
                            "built-in" => Search::Builtin,
                            "external" => Search::External,
                            p => Search::Path(p.to_string()),
                        };
                        self.searches.insert(0, s);
                    }
                }
                "override" => {
                    let (Some(m), Some(v), Some(d)) = (w.next(), w.next(), w.next()) else {
                        bad(notes);
                        continue;
                    };
                    if kernel_matches(v, kversion) {
                        self.overrides.insert(0, format!("{d}/{m}"));
                    }
                }
                "external" => {
                    let (Some(v), Some(d)) = (w.next(), w.next()) else {
                        bad(notes);
                        continue;
                    };
                    if kernel_matches(v, kversion) {
                        self.externals.insert(0, PathBuf::from(d));
                    }
                }
                "exclude" => {
                    for s in w {
                        self.excludes.insert(0, s.to_string());
                    }
                }
                "include" | "make_map_files" => {}
                _ => bad(notes),
            }
        }
    }
}

/// Gathers configuration files as kmod does, for depmod.d and modprobe.d alike: a path
/// that is a file is taken as is; a directory contributes its files ending in one of
/// `suffixes` (not hidden, not directories). `files` stays sorted by file name, and a name
/// already present (from an earlier path) hides later ones. Returns messages to print.
pub fn collect_files(
    paths: &[PathBuf],
    suffixes: &[&str],
    files: &mut Vec<(String, PathBuf)>,
) -> Vec<String> {
    let mut notes = Vec::new();
    for p in paths {
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        if !meta.is_dir() {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            insert_sorted(files, name, p.clone());
            continue;
        }
        let Ok(rd) = std::fs::read_dir(p) else {
            notes.push(format!("files list {}: permission denied", p.display()));
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.')
                || !suffixes
                    .iter()
                    .any(|s| name.len() > s.len() && name.ends_with(s))
            {
                continue;
            }
            if e.path().is_dir() {
                notes.push(format!(
                    "Directories inside directories are not supported: {}/{}",
                    p.display(),
                    name
                ));
                continue;
            }
            insert_sorted(files, name, e.path());
        }
    }
    notes
}

/// Inserts keeping `files` sorted by name; an existing name wins.
pub fn insert_sorted(files: &mut Vec<(String, PathBuf)>, name: String, path: PathBuf) {
    match files.binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes())) {
        Ok(_) => {} // the same name in an earlier directory wins
        Err(i) => files.insert(i, (name, path)),
    }
}

/// Lines with backslash-newline continuations joined, numbered as kmod numbers them (the
/// last physical line of a logical line).
pub fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, raw) in text.lines().enumerate() {
        if let Some(stripped) = raw.strip_suffix('\\') {
            cur.push_str(stripped);
            continue;
        }
        cur.push_str(raw);
        out.push((i + 1, std::mem::take(&mut cur)));
    }
    if !cur.is_empty() {
        out.push((text.lines().count(), cur));
    }
    out
}

/// depmod.d version patterns: "*" or an extended regular expression searched in the
/// kernel version. Supported here: literals, '.', '*', '+', '?', '^', '$', [..] classes and
/// alternation-free groups — what real configuration files use.
pub fn kernel_matches(pattern: &str, kversion: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = kversion.chars().collect();
    if p.first() == Some(&'^') {
        return re_here(&p[1..], &s);
    }
    (0..=s.len()).any(|i| re_here(&p, &s[i..]))
}

fn atom_len(p: &[char]) -> usize {
    match p.first() {
        Some('\\') => 2.min(p.len()),
        Some('[') => p.iter().position(|&c| c == ']').map(|i| i + 1).unwrap_or(1),
        _ => 1,
    }
}

fn atom_matches(a: &[char], c: char) -> bool {
    match a.first() {
        Some('.') => true,
        Some('\\') => a.get(1) == Some(&c),
        Some('[') if a.len() > 1 => {
            let inner = &a[1..a.len() - 1];
            let (neg, inner) = match inner.first() {
                Some('^') => (true, &inner[1..]),
                _ => (false, inner),
            };
            let mut m = false;
            let mut i = 0;
            while i < inner.len() {
                if i + 2 < inner.len() && inner[i + 1] == '-' {
                    m |= inner[i] <= c && c <= inner[i + 2];
                    i += 3;
                } else {
                    m |= inner[i] == c;
                    i += 1;
                }
            }
            m != neg
        }
        Some(&x) => x == c,
        None => false,
    }
}

fn re_here(p: &[char], s: &[char]) -> bool {
    if p.is_empty() {
        return true;
    }
    if p == ['$'] {
        return s.is_empty();
    }
    let n = atom_len(p);
    let (atom, rest) = p.split_at(n);
    match rest.first() {
        Some('*') | Some('+') | Some('?') => {
            let op = rest[0];
            let rest = &rest[1..];
            let min = usize::from(op == '+');
            let max = if op == '?' { 1 } else { usize::MAX };
            let mut k = 0;
            while k < max && k < s.len() && atom_matches(atom, s[k]) {
                k += 1;
            }
            (min..=k).rev().any(|j| re_here(rest, &s[j..]))
        }
        _ => !s.is_empty() && atom_matches(atom, s[0]) && re_here(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_patterns() {
        assert!(kernel_matches("*", "6.1.0-1-amd64"));
        assert!(kernel_matches("6\\.1.*", "6.1.0-1-amd64"));
        assert!(kernel_matches("^6.1", "6.1.0-1-amd64"));
        assert!(!kernel_matches("^6.12", "6.1.0-1-amd64"));
        assert!(kernel_matches("amd64$", "6.1.0-1-amd64"));
        assert!(!kernel_matches("^5", "6.1.0-1-amd64"));
    }
}
