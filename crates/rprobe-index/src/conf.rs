//! Configuration files as kmod gathers and reads them, for depmod.d and modprobe.d alike:
//! which files of which directories are read, in what order, and their logical lines
//! (backslash-newline continuations joined).

use std::path::PathBuf;

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
        let Ok(meta) = crate::fsx::stat(p) else {
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
            if crate::fsx::is_dir(&e.path()) {
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
/// last physical line of a logical line). Lines end at '\n' only, as with getline(3): a
/// carriage return stays part of the line.
pub fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut linenum = 0;
    for raw in text.split_inclusive('\n') {
        linenum += 1;
        let l = raw.strip_suffix('\n').unwrap_or(raw);
        if let Some(stripped) = l.strip_suffix('\\') {
            cur.push_str(stripped);
            continue;
        }
        cur.push_str(l);
        out.push((linenum, std::mem::take(&mut cur)));
    }
    if !cur.is_empty() {
        out.push((linenum, cur));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_and_numbers() {
        let l = logical_lines("a \\\nb\nc\r\n\nd\\");
        assert_eq!(
            l,
            vec![
                (2, "a b".to_string()),
                (3, "c\r".to_string()),
                (4, String::new()),
                (5, "d".to_string())
            ]
        );
    }
}
