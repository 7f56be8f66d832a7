//! depmod.d configuration: `search`, `override`, `external` and `exclude`, read from the
//! same directories as kmod (a file name in an earlier directory hides the same name in a
//! later one; files are read in name order; only *.conf).

use std::path::{Path, PathBuf};

use regex_automata::nfa::thompson::{self, pikevm::PikeVM};
use regex_automata::util::syntax;

use rprobe_index::conf::{collect_files, logical_lines};

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
        // The last line read comes first (see `Config`): pushed in reading order and
        // turned once here, so a file with many entries costs linear time.
        cfg.searches.reverse();
        cfg.overrides.reverse();
        cfg.externals.reverse();
        cfg.excludes.reverse();
        if cfg.searches.is_empty() {
            cfg.searches.push(Search::Path("updates".into()));
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
                        self.searches.push(s);
                    }
                }
                "override" => {
                    let (Some(m), Some(v), Some(d)) = (w.next(), w.next(), w.next()) else {
                        bad(notes);
                        continue;
                    };
                    if kernel_matches(v, kversion) {
                        self.overrides.push(format!("{d}/{m}"));
                    }
                }
                "external" => {
                    let (Some(v), Some(d)) = (w.next(), w.next()) else {
                        bad(notes);
                        continue;
                    };
                    if kernel_matches(v, kversion) {
                        self.externals.push(PathBuf::from(d));
                    }
                }
                "exclude" => {
                    for s in w {
                        self.excludes.push(s.to_string());
                    }
                }
                "include" | "make_map_files" => {}
                _ => bad(notes),
            }
        }
    }
}

/// The most memory one depmod.d version pattern's compiled automaton may take.
pub const PATTERN_NFA_LIMIT: usize = 64 * 1024;

/// depmod.d version patterns, as kmod's depmod reads them: "*" matches every kernel;
/// anything else is a POSIX extended regular expression searched anywhere in the kernel
/// version (regcomp with REG_EXTENDED, then regexec). A pattern that does not compile
/// matches nothing, as in kmod. Matching runs in time linear in the input (no backtracking).
///
/// One deliberate difference: a pattern whose automaton would take more than
/// [`PATTERN_NFA_LIMIT`] bytes (nested counted repetitions such as `(a{100}){100}`, which
/// glibc compiles) is refused and matches nothing, so a hostile depmod.d file cannot make
/// each line cost milliseconds and megabytes. A kernel version is at most 64 bytes; the
/// patterns that can tell two of them apart fit many times over (`[[:alnum:]]{64}` takes
/// under 4 KiB).
pub fn kernel_matches(pattern: &str, kversion: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some(re) = posix_ere_to_regex(pattern) else {
        return false;
    };
    // One short string is searched once: a Thompson NFA run as a Pike VM (linear time)
    // costs a fraction of building a full regex engine (lazy DFA, one-pass, literal
    // prefilters) for it.
    let Ok(vm) = PikeVM::builder()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .thompson(
            thompson::Config::new()
                .utf8(false)
                .nfa_size_limit(Some(PATTERN_NFA_LIMIT)),
        )
        .build(&re)
    else {
        return false;
    };
    let mut cache = vm.create_cache();
    vm.is_match(&mut cache, kversion.as_bytes())
}

/// Writes one literal character in regex-syntax's syntax.
fn lit(c: char, out: &mut String) {
    let mut b = [0u8; 4];
    out.push_str(&regex_syntax::escape(c.encode_utf8(&mut b)));
}

/// Translates a POSIX extended regular expression (glibc's dialect) into regex-syntax's
/// syntax, or None where glibc's regcomp would refuse it (or it uses what regex-automata
/// lacks, back-references). What differs: inside brackets a leading ']' is literal, a
/// backslash is literal and '[' only opens [:class:], [.c.] or [=c=]; outside, an unmatched
/// ')' is literal, a backslash before an ordinary character is that character, and "(?" is
/// an error.
fn posix_ere_to_regex(p: &str) -> Option<String> {
    let c: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut depth = 0usize;
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '[' => i = bracket(&c, i, &mut out)?,
            '\\' => {
                let n = *c.get(i + 1)?;
                match n {
                    '<' | '>' | 'b' | 'B' | 'w' | 'W' | 's' | 'S' => {
                        out.push('\\');
                        out.push(n);
                    }
                    '`' => out.push_str("\\A"),
                    '\'' => out.push_str("\\z"),
                    '1'..='9' => return None,
                    _ => lit(n, &mut out),
                }
                i += 2;
            }
            '(' => {
                if c.get(i + 1) == Some(&'?') {
                    return None;
                }
                depth += 1;
                out.push('(');
                i += 1;
            }
            ')' => {
                if depth == 0 {
                    out.push_str("\\)");
                } else {
                    depth -= 1;
                    out.push(')');
                }
                i += 1;
            }
            '#' | '&' | '~' | '-' | ' ' => {
                lit(c[i], &mut out);
                i += 1;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Translates the bracket expression opening at `c[start]` into `out`; returns the index
/// after its closing ']', or None when it is not closed.
fn bracket(c: &[char], start: usize, out: &mut String) -> Option<usize> {
    let mut i = start + 1;
    out.push('[');
    if c.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // Items: a literal (possibly a range start) or a class name.
    let mut first = true;
    loop {
        let ch = *c.get(i)?;
        if ch == ']' && !first {
            out.push(']');
            return Some(i + 1);
        }
        first = false;
        let (lo, next) = if ch == '[' && matches!(c.get(i + 1), Some(':' | '.' | '=')) {
            let kind = c[i + 1];
            let body_start = i + 2;
            let mut j = body_start;
            while !(c.get(j) == Some(&kind) && c.get(j + 1) == Some(&']')) {
                if j >= c.len() {
                    return None;
                }
                j += 1;
            }
            let body: String = c[body_start..j].iter().collect();
            if kind == ':' {
                const CLASSES: [&str; 12] = [
                    "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
                    "punct", "space", "upper", "xdigit",
                ];
                if !CLASSES.contains(&body.as_str()) {
                    return None;
                }
                out.push_str(&format!("[:{body}:]"));
                i = j + 2;
                continue;
            }
            // A collating element or equivalence class of one character is that character.
            let mut chars = body.chars();
            match (chars.next(), chars.next()) {
                (Some(x), None) => (x, j + 2),
                _ => return None,
            }
        } else {
            (ch, i + 1)
        };
        // A range "lo-hi" unless '-' is last before ']'.
        if c.get(next) == Some(&'-') && c.get(next + 1).is_some_and(|&h| h != ']') {
            let hi_at = next + 1;
            let (hi, after) = if c[hi_at] == '[' && matches!(c.get(hi_at + 1), Some('.' | '=')) {
                let kind = c[hi_at + 1];
                let hi = *c.get(hi_at + 2)?;
                if c.get(hi_at + 3) != Some(&kind) || c.get(hi_at + 4) != Some(&']') {
                    return None;
                }
                (hi, hi_at + 5)
            } else {
                (c[hi_at], hi_at + 1)
            };
            if hi < lo {
                return None;
            }
            lit(lo, out);
            out.push('-');
            lit(hi, out);
            i = after;
        } else {
            lit(lo, out);
            i = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pattern against glibc's answer (regcomp REG_EXTENDED + regexec, as kmod).
    #[test]
    fn posix_extended_patterns() {
        let v61 = "6.1.0-28-amd64";
        let v612 = "6.12.12+deb12-amd64";
        for (pat, m61, m612) in [
            (r"6\.(1|12)\.", true, true),
            (r"^6\.1[0-9]{1}", false, true),
            (r"^[[:digit:]]+\.", true, true),
            (r"^6\.1(2)?\.", true, true),
            (r"^6\.1(2)\.", false, true),
            (r"[]a]md", true, true),
            (r"[]x]md", false, false),
            (r"[^]a]md64$", false, false),
            (r"-(amd|arm)64$", true, true),
            (r"\+deb", false, true),
            (r"[+]deb", false, true),
            (r"[a\]md", true, true),
            (r"^6\.1\.0-[[:digit:]]{2}-", true, false),
            (r"6.1)", false, false),
            (r"(", false, false),
            (r"[", false, false),
            (r"[[:nope:]]", false, false),
            (r"(?i)AMD", false, false),
            (r"^(6)\1", false, false),
            (r"[[.-.]]28", true, false),
            (r"[z-a]", false, false),
            (r"a&&b|amd", true, true),
        ] {
            assert_eq!(kernel_matches(pat, v61), m61, "{pat} on {v61}");
            assert_eq!(kernel_matches(pat, v612), m612, "{pat} on {v612}");
        }
    }

    /// Patterns that make a backtracking matcher explode finish at once.
    #[test]
    fn no_exponential_backtracking() {
        let long = "a".repeat(64);
        let t = std::time::Instant::now();
        assert!(!kernel_matches("(a*)*b", &long));
        assert!(!kernel_matches("^(a|aa)+$b", &long));
        assert!(!kernel_matches("a*a*a*a*a*a*a*a*a*a*a*a*b", &long));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    /// Realistic patterns, even long ones, stay under the limit; a pattern that would
    /// compile to megabytes (glibc accepts it) is refused at once and matches nothing.
    #[test]
    fn pattern_size_limit() {
        let v = "6.12.12+deb12-amd64";
        assert!(kernel_matches(
            r"^6\.(1|12)\.[0-9]+(-[0-9]+)?(\+deb[0-9]+)?-(amd64|arm64|rt-amd64|cloud-amd64)$",
            v
        ));
        assert!(kernel_matches(r"^[[:alnum:].+-]{1,64}$", v));
        assert!(kernel_matches(r"[[:alnum:]]{5}", v));
        let t = std::time::Instant::now();
        assert!(!kernel_matches(r"(.{100}){100}|amd64", v));
        assert!(!kernel_matches(r"((a{30}){30}){30}|amd64", v));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

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
