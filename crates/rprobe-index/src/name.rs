//! kmod's naming rules, one definition each: a module's name from its file name, what
//! counts as a module file, and the two ways kmod turns '-' into '_' (whole module names,
//! and alias patterns where bracket expressions are left alone).

use std::path::Path;

/// The file name endings of module files: plain, gzip, xz and zstd.
pub const MODULE_SUFFIXES: [&str; 4] = [".ko", ".ko.gz", ".ko.xz", ".ko.zst"];

/// A module name with every '-' turned into '_', as kmod compares module names.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// kmod's module-name normalisation of a name given as is (modname_normalize): '-'
/// becomes '_', and the name ends at its first '.' ("x.ko" names "x"; a path keeps its
/// slashes, as rmmod shows "/gone/x" for a file that does not exist).
pub fn modname_normalize(name: &str) -> String {
    let end = name.find('.').unwrap_or(name.len());
    normalize(&name[..end])
}

/// kmod's alias normalisation: '-' becomes '_' outside bracket expressions; `None` for an
/// unmatched '[' or ']' (kmod rejects such a string as an alias). Most names have nothing
/// to change: they come back borrowed, without a copy.
pub fn alias_normalize(alias: &str) -> Option<std::borrow::Cow<'_, str>> {
    // One pass over every byte (no early exit, so the compiler may vectorise it): this
    // runs once per name looked up.
    let (dash, bracket) = alias.bytes().fold((false, false), |(d, b), c| {
        (d | (c == b'-'), b | (c == b'[') | (c == b']'))
    });
    if !bracket {
        return Some(if dash {
            std::borrow::Cow::Owned(alias.replace('-', "_"))
        } else {
            std::borrow::Cow::Borrowed(alias)
        });
    }
    let mut out = String::with_capacity(alias.len());
    let mut chars = alias.chars();
    while let Some(c) = chars.next() {
        match c {
            '-' => out.push('_'),
            ']' => return None,
            '[' => {
                out.push('[');
                loop {
                    match chars.next() {
                        Some(']') => {
                            out.push(']');
                            break;
                        }
                        Some(x) => out.push(x),
                        None => return None,
                    }
                }
            }
            c => out.push(c),
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

/// The module name of a file path, as kmod derives it: the base name up to its first '.',
/// normalised.
pub fn modname_from_path(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    normalize(base.split('.').next().unwrap_or(""))
}

/// [`modname_from_path`] of a path given as text (a modules.dep entry), without building a
/// `Path` when the last component is an ordinary file name.
pub fn modname_from_str(path: &str) -> String {
    match path.rsplit('/').next() {
        Some(base) if !base.is_empty() && base != "." && base != ".." => {
            normalize(base.split('.').next().unwrap_or(""))
        }
        _ => modname_from_path(Path::new(path)),
    }
}

/// True when a file name ends as a module's does: .ko, .ko.gz, .ko.xz or .ko.zst.
pub fn is_module_filename(name: &str) -> bool {
    MODULE_SUFFIXES.iter().any(|e| name.ends_with(e))
}

/// Text read from an index or a configuration file as a string: borrowed when it is UTF-8
/// (the rule: kmod's files are ASCII), checked by `from_utf8`'s fast path; lossily
/// otherwise. (`String::from_utf8_lossy` alone walks valid text chunk by chunk, slower on
/// every lookup.)
pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_paths() {
        assert_eq!(
            modname_from_path(Path::new("/a/b/snd-hda.ko.xz")),
            "snd_hda"
        );
        assert_eq!(modname_from_path(Path::new("x.y.ko")), "x");
        assert_eq!(modname_from_path(Path::new("/")), "");
        for p in [
            "/a/b/snd-hda.ko.xz",
            "x.y.ko",
            "/",
            "a/b/",
            "a/..",
            "a/.",
            "",
            "kernel/x-y.ko",
        ] {
            assert_eq!(modname_from_str(p), modname_from_path(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn alias_brackets() {
        assert_eq!(alias_normalize("a-b[-x]-c").as_deref(), Some("a_b[-x]_c"));
        assert_eq!(alias_normalize("a]b"), None);
        assert_eq!(alias_normalize("a[b"), None);
        assert_eq!(alias_normalize("a[[b]-c").as_deref(), Some("a[[b]_c"));
    }

    #[test]
    fn module_files() {
        assert!(is_module_filename("e1000.ko.zst"));
        assert!(!is_module_filename("e1000.ko.bz2"));
        assert!(!is_module_filename("modules.dep"));
    }
}
