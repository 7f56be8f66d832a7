//! depmod.d configuration: `search`, `override`, `external` and `exclude`, read from the
//! same directories as kmod (a file name in an earlier directory hides the same name in a
//! later one; files are read in name order; only *.conf).

use std::path::{Path, PathBuf};

use crate::conf::{collect_files, logical_lines};

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
