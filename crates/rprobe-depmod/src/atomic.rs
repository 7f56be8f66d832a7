//! Writing a file so that readers see the old content or the new, never a torn file, the
//! way kmod's depmod does it: the target's directory opened once, a temporary file created
//! in it relative to that descriptor (`openat`, O_CREAT|O_EXCL, mode 0644 less the
//! umask, as kmod), written and flushed to disk, renamed over the target relative to the
//! same descriptor (`renameat`), and the directory synced. Every call is libc's (through
//! nix), on the directory's path once and on names relative to it after that, so a tool
//! that redirects paths with LD_PRELOAD (kmod's testsuite fakes, fakechroot) sees the one
//! `open` of the directory and needs to know nothing else.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{open, openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};

/// The mode new index files are created with, before the umask: kmod's 0644.
const MODE: u32 = 0o644;

/// An open directory that files are written into.
struct Dir(OwnedFd);

impl Dir {
    fn open(dir: &Path) -> std::io::Result<Dir> {
        let fd = open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir(fd))
    }

    /// Flushes the directory (the renames in it) to disk; failure is not an error, as for
    /// kmod, which never syncs.
    fn sync(&self) {
        let _ = nix::unistd::fsync(&self.0);
    }
}

/// A temporary file in a [`Dir`], removed when dropped unless renamed.
struct Temp<'d> {
    dir: &'d Dir,
    name: String,
    file: Option<File>,
}

impl<'d> Temp<'d> {
    /// A new file named after `target` (`.TARGET.PID.N.NANOS`), never one that exists.
    fn new(dir: &'d Dir, target: &str) -> std::io::Result<Temp<'d>> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut last = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let name = format!(".{target}.{}.{n}.{nanos}", std::process::id());
            match openat(
                &dir.0,
                name.as_str(),
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(MODE),
            ) {
                Ok(fd) => {
                    return Ok(Temp {
                        dir,
                        name,
                        file: Some(File::from(fd)),
                    })
                }
                Err(nix::errno::Errno::EEXIST) => last = Some(nix::errno::Errno::EEXIST),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.unwrap_or(nix::errno::Errno::EEXIST).into())
    }

    fn file(&mut self) -> std::io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("temporary file already closed"))
    }

    /// Writes `fill`'s output, flushes it and syncs it to disk.
    fn fill(
        &mut self,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let f = self.file()?;
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut *f);
            fill(&mut w)?;
            w.flush()?;
        }
        f.sync_all()
    }

    /// Renames the file over `target` in the same directory.
    fn persist(mut self, target: &str) -> std::io::Result<()> {
        drop(self.file.take());
        renameat(&self.dir.0, self.name.as_str(), &self.dir.0, target)?;
        self.name.clear();
        Ok(())
    }
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            drop(self.file.take());
            let _ = unlinkat(&self.dir.0, self.name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// The directory and file name of `path`.
fn split(path: &Path) -> std::io::Result<(&Path, String)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{}: not a file name", path.display()),
            )
        })?;
    Ok((parent(path), name))
}

/// Writes `path` atomically with what `fill` writes. On any failure the temporary file is
/// removed, `path` is left as it was, and the error is returned.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (dir, name) = split(path)?;
    let dir = Dir::open(dir)?;
    let mut tmp = Temp::new(&dir, &name)?;
    tmp.fill(fill)?;
    tmp.persist(&name)?;
    dir.sync();
    Ok(())
}

/// Writes several files atomically as one batch: every temporary file is written and synced
/// (in parallel, so the device can take the flushes together), then each is renamed over its
/// target in order, then each directory is synced once. A failure before the renames (a
/// full disk, say) leaves every target as it was and removes the temporary files. The error
/// says which file (its index in `files`) failed.
pub fn write_many(files: &[(&Path, &[u8])]) -> Result<(), (usize, std::io::Error)> {
    use rayon::prelude::*;
    // Each directory opened once, in the order first named.
    let mut dirs: Vec<(&Path, Dir)> = Vec::new();
    let mut targets: Vec<(usize, String)> = Vec::with_capacity(files.len());
    for (i, (path, _)) in files.iter().enumerate() {
        let (dir, name) = split(path).map_err(|e| (i, e))?;
        let k = match dirs.iter().position(|(d, _)| *d == dir) {
            Some(k) => k,
            None => {
                dirs.push((dir, Dir::open(dir).map_err(|e| (i, e))?));
                dirs.len() - 1
            }
        };
        targets.push((k, name));
    }
    let temps: Vec<std::io::Result<Temp<'_>>> = files
        .par_iter()
        .zip(targets.par_iter())
        .map(|((_, data), (k, name))| {
            let mut tmp = Temp::new(&dirs[*k].1, name)?;
            tmp.fill(|w| w.write_all(data))?;
            Ok(tmp)
        })
        .collect();
    // Any failure: nothing is renamed (the temporary files go when dropped).
    let mut ready = Vec::with_capacity(temps.len());
    for (i, t) in temps.into_iter().enumerate() {
        ready.push(t.map_err(|e| (i, e))?);
    }
    let mut failed = None;
    let mut touched = vec![false; dirs.len()];
    for (i, (tmp, (k, name))) in ready.into_iter().zip(&targets).enumerate() {
        if failed.is_some() {
            break;
        }
        match tmp.persist(name) {
            Ok(()) => touched[*k] = true,
            Err(e) => failed = Some((i, e)),
        }
    }
    // The renames done (all, or those before a failure) are made durable either way.
    for ((_, d), t) in dirs.iter().zip(touched) {
        if t {
            d.sync();
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
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        // kmod's 0644 less this process's umask (read and set back at once).
        let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        nix::sys::stat::umask(umask);
        assert_eq!(mode, MODE & !umask.bits());
    }
}
