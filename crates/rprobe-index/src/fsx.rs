//! stat(2) by path through libc's `stat`, as kmod asks: Rust's std asks with statx(2),
//! which tools that redirect paths with LD_PRELOAD and predate statx (kmod's testsuite
//! fake, path.so) do not see, so a redirected tree would look missing. Calls on an open
//! file (fstat) need no redirection and stay std's.
//!
//! ```
//! let s = rprobe_index::fsx::stat(std::path::Path::new("/")).unwrap();
//! assert!(s.is_dir());
//! ```

use std::path::Path;

/// What stat(2) says of a path (links followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The device.
    pub dev: u64,
    /// The inode.
    pub ino: u64,
    /// The size in bytes.
    pub size: u64,
    /// The modification time: seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// The status change time: seconds and nanoseconds.
    pub ctime: (i64, i64),
    mode: u32,
}

impl Stat {
    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.mode & libc_mode::S_IFMT == libc_mode::S_IFDIR
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & libc_mode::S_IFMT == libc_mode::S_IFREG
    }
}

mod libc_mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFREG: u32 = 0o100000;
}

/// stat(2) of `path`, through libc.
pub fn stat(path: &Path) -> std::io::Result<Stat> {
    let s = nix::sys::stat::stat(path)?;
    Ok(Stat {
        dev: s.st_dev,
        ino: s.st_ino,
        size: s.st_size as u64,
        mtime: (s.st_mtime, s.st_mtime_nsec),
        ctime: (s.st_ctime, s.st_ctime_nsec),
        mode: s.st_mode,
    })
}

/// Whether `path` exists (stat(2) succeeds).
pub fn exists(path: &Path) -> bool {
    stat(path).is_ok()
}

/// Whether `path` is a directory (links followed).
pub fn is_dir(path: &Path) -> bool {
    stat(path).is_ok_and(|s| s.is_dir())
}
