//! Writing a file so that readers see the old content or the new, never a torn file: a
//! temporary file in the same directory (mode 0666 less the umask, as fopen(3) creates
//! files), written, flushed to disk, renamed over the target, and the directory synced.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The mode new files get: 0666 less the process umask (read once; umask(2) is the only way
/// to learn it, so it is set back at once).
fn file_mode() -> u32 {
    static MODE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| {
        use nix::sys::stat::{umask, Mode};
        let old = umask(Mode::from_bits_truncate(0o022));
        umask(old);
        0o666 & !old.bits()
    })
}

/// Writes `path` atomically with what `fill` writes. On any failure the temporary file is
/// removed, `path` is left as it was, and the error is returned.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = parent(path);
    let mut tmp = temp_beside(path)?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes several files atomically as one batch: every temporary file is written and synced
/// (in parallel, so the device can take the flushes together), then each is renamed over its
/// target in order, then each directory is synced once. A failure before the renames (a
/// full disk, say) leaves every target as it was and removes the temporary files. The error
/// says which file (its index in `files`) failed.
pub fn write_many(files: &[(&Path, &[u8])]) -> Result<(), (usize, std::io::Error)> {
    use rayon::prelude::*;
    let temps: Vec<Result<tempfile::NamedTempFile, std::io::Error>> = files
        .par_iter()
        .map(|(path, data)| {
            let mut tmp = temp_beside(path)?;
            {
                let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
                w.write_all(data)?;
                w.flush()?;
            }
            tmp.as_file().sync_all()?;
            Ok(tmp)
        })
        .collect();
    // Any failure: nothing is renamed (the temporary files go when dropped).
    let mut ready = Vec::with_capacity(temps.len());
    for (i, t) in temps.into_iter().enumerate() {
        ready.push(t.map_err(|e| (i, e))?);
    }
    let mut dirs: Vec<&Path> = Vec::new();
    let mut failed = None;
    for (i, (tmp, (path, _))) in ready.into_iter().zip(files).enumerate() {
        if let Err(e) = tmp.persist(path) {
            failed = Some((i, e.error));
            break;
        }
        let dir = parent(path);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    // The renames done (all, or those before a failure) are made durable either way.
    for d in dirs {
        if let Ok(d) = std::fs::File::open(d) {
            let _ = d.sync_all();
        }
    }
    failed.map_or(Ok(()), Err)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A new temporary file in `path`'s directory, named after it, mode 0666 less the umask.
fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let prefix = format!(
        ".{}.",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    tempfile::Builder::new()
        .prefix(&prefix)
        .permissions(std::fs::Permissions::from_mode(file_mode()))
        .tempfile_in(parent(path))
}

/// Writes `data` to `path` atomically (see [`write_with`]).
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_with(path, |w| w.write_all(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporaries() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("modules.dep");
        write(&p, b"old\n").expect("first");
        write(&p, b"new\n").expect("second");
        assert_eq!(std::fs::read(&p).expect("read"), b"new\n");
        let err = write_with(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("injected"))
        });
        assert!(err.is_err());
        assert_eq!(
            std::fs::read(&p).expect("read"),
            b"new\n",
            "old content survives"
        );
        let names: Vec<_> = std::fs::read_dir(d.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["modules.dep"], "no temporary file left");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, file_mode());
    }
}
