//! The host: where the running kernel's state is read (/proc/modules, /sys, /proc/cmdline)
//! and the readings every tool shares (the loaded modules' names, the devices' modaliases,
//! a module's state). The `RPROBE_*` test overrides are read here and nowhere else.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::InitState;

/// How deep the walk for modaliases goes under SYS/devices (sysfs's device tree is far
/// shallower; the limit only bounds a strange or looping tree).
const MODALIAS_DEPTH: usize = 64;

/// Where the running kernel's state is read: /proc/modules, /sys, /proc/cmdline, and their
/// RPROBE_* test overrides, read in this one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPaths {
    /// The loaded modules' list (/proc/modules).
    pub proc_modules: PathBuf,
    /// Where sysfs is mounted (/sys).
    pub sysfs: PathBuf,
    /// The kernel command line (/proc/cmdline).
    pub cmdline: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths::system()
    }
}

impl HostPaths {
    /// The running system's own paths: /proc/modules, /sys, /proc/cmdline.
    pub fn system() -> HostPaths {
        HostPaths {
            proc_modules: PathBuf::from("/proc/modules"),
            sysfs: PathBuf::from("/sys"),
            cmdline: PathBuf::from("/proc/cmdline"),
        }
    }

    /// [`HostPaths::system`] with the tests' overrides: RPROBE_PROC_MODULES,
    /// RPROBE_SYSFS and RPROBE_KERNEL_CMDLINE name the files to read instead.
    pub fn from_env() -> HostPaths {
        let sys = HostPaths::system();
        let var =
            |name: &str, default: PathBuf| std::env::var_os(name).map_or(default, PathBuf::from);
        HostPaths {
            proc_modules: var("RPROBE_PROC_MODULES", sys.proc_modules),
            sysfs: var("RPROBE_SYSFS", sys.sysfs),
            cmdline: var("RPROBE_KERNEL_CMDLINE", sys.cmdline),
        }
    }

    /// The loaded modules' names: the first column of /proc/modules, in its order.
    pub fn loaded_modules(&self) -> std::io::Result<Vec<String>> {
        let text = std::fs::read(&self.proc_modules)?;
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect())
    }

    /// Every device's modalias (the CPU's included, as /sys/devices/system/cpu/modalias),
    /// sorted and deduplicated, as udev's coldplug sees them. See
    /// [`HostPaths::modalias_files`] for the walk.
    pub fn modaliases(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .modalias_files()
            .into_iter()
            .map(|(alias, _)| alias)
            .collect();
        out.dedup();
        out
    }

    /// Every modalias with the device directory it was read from, sorted (not
    /// deduplicated: two devices may share one): each non-empty line of every `modalias`
    /// file under SYS/devices, at most 64 directories deep, symbolic links not followed
    /// (sysfs is a tree under /sys/devices). Files that cannot be read add nothing.
    pub fn modalias_files(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        let mut todo = vec![(self.sysfs.join("devices"), 0usize)];
        while let Some((dir, depth)) = todo.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    if depth < MODALIAS_DEPTH {
                        todo.push((e.path(), depth + 1));
                    }
                } else if ft.is_file() && e.file_name() == "modalias" {
                    if let Ok(a) = std::fs::read_to_string(e.path()) {
                        for line in a.lines().map(str::trim).filter(|l| !l.is_empty()) {
                            out.push((line.to_string(), dir.clone()));
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// A module's state as kmod_module_get_initstate gives it: built in when `builtin`
    /// (the tree's modules.builtin lists it), whatever sysfs says; else
    /// SYS/module/NAME/initstate; a module directory without that file (a module built into
    /// the running kernel) is "coming", as in kmod; None when the kernel does not have it.
    pub fn initstate(&self, name: &str, builtin: bool) -> Option<InitState> {
        InitState::of(builtin, || self.sysfs_initstate(name))
    }

    /// SYS/module/NAME: the module's directory in sysfs.
    pub fn module_dir(&self, name: &str) -> PathBuf {
        self.sysfs.join("module").join(name)
    }

    /// What sysfs alone says of a module's state.
    fn sysfs_initstate(&self, name: &str) -> Option<InitState> {
        self.read_initstate(name).ok()
    }

    /// SYS/module/NAME/initstate read as kmod_module_get_initstate reads it: "live\n",
    /// "coming\n" or "going\n" exactly; a module directory without the file (a module
    /// built into the running kernel) is "coming". Built-in for kmod means the target
    /// tree's modules.builtin, which [`HostPaths::initstate`] asks first, not sysfs.
    pub fn read_initstate(&self, name: &str) -> std::result::Result<InitState, SysfsStateError> {
        let d = self.module_dir(name);
        let file = d.join("initstate");
        match std::fs::read(&file) {
            Ok(b) => match &b[..] {
                b"live\n" => Ok(InitState::Live),
                b"coming\n" => Ok(InitState::Coming),
                b"going\n" => Ok(InitState::Going),
                other => Err(SysfsStateError::Unknown {
                    text: String::from_utf8_lossy(other).into_owned(),
                    file,
                }),
            },
            Err(_) if rprobe_index::fsx::is_dir(&d) => Ok(InitState::Coming),
            Err(e) => Err(SysfsStateError::Absent(e)),
        }
    }
}

impl HostPaths {
    /// kmod_module_get_size: SYS/module/NAME/coresize when the file is there (0 and an
    /// error line when it does not hold a number, as kmod), else the size /proc/modules
    /// lists; the errno of opening SYS/module/NAME when the module is not loaded, ENOENT
    /// when /proc/modules does not list it. `log` gets kmod's error lines (the libkmod
    /// function and the message).
    pub fn module_size(
        &self,
        name: &str,
        log: &mut dyn FnMut(&'static str, String),
    ) -> std::result::Result<i64, Errno> {
        const FUNC: &str = "kmod_module_get_size";
        let dir = self.module_dir(name);
        std::fs::File::open(&dir).map_err(|e| io_errno(&e))?;
        if let Ok(f) = std::fs::File::open(dir.join("coresize")) {
            return Ok(read_long(&f, 10).unwrap_or_else(|_| {
                log(
                    FUNC,
                    format!("failed to read coresize from {}", dir.display()),
                );
                0
            }));
        }
        let text = std::fs::read(&self.proc_modules).map_err(|e| {
            let errno = io_errno(&e);
            log(
                FUNC,
                format!("could not open /proc/modules: {}", errno.desc()),
            );
            errno
        })?;
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let mut f = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|s| !s.is_empty());
            if f.next() != Some(name.as_bytes()) {
                continue;
            }
            let size = f
                .next()
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(|t| t.parse::<i64>().ok());
            return size.ok_or_else(|| {
                log(
                    FUNC,
                    format!("invalid line format at /proc/modules:{}", i + 1),
                );
                Errno::ENOENT
            });
        }
        Err(Errno::ENOENT)
    }

    /// kmod_module_get_refcnt: SYS/module/NAME/refcnt; the errno of opening it, or EINVAL
    /// (with an error line to `log`) when it does not hold a number.
    pub fn module_refcnt(
        &self,
        name: &str,
        log: &mut dyn FnMut(&'static str, String),
    ) -> std::result::Result<i64, Errno> {
        let path = self.module_dir(name).join("refcnt");
        let f = std::fs::File::open(&path).map_err(|e| io_errno(&e))?;
        read_long(&f, 10).inspect_err(|e| {
            log(
                "kmod_module_get_refcnt",
                format!(
                    "could not read integer from '{}': '{}'",
                    path.display(),
                    e.desc()
                ),
            );
        })
    }
}

/// The errno of an I/O error (EIO when it has none).
fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// A number read as kmod's read_str_long reads a sysfs file: at most 31 bytes, strtol in
/// `radix` (leading blanks and a sign allowed), and the number must be followed by white
/// space (the kernel's newline): EINVAL otherwise, the read's errno when it fails.
pub fn read_long(file: &std::fs::File, radix: u32) -> std::result::Result<i64, Errno> {
    use std::io::Read;
    let mut buf = [0u8; 31];
    let mut n = 0;
    loop {
        match (&*file).read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if n == buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_errno(&e)),
        }
    }
    let text = &buf[..n];
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let mut end = start;
    if matches!(text.get(end), Some(b'+' | b'-')) {
        end += 1;
    }
    let digits = end;
    while text.get(end).is_some_and(|&b| (b as char).is_digit(radix)) {
        end += 1;
    }
    // strtol stops at the first non-digit, which must be white space (not the end).
    if end == digits || !text.get(end).is_some_and(u8::is_ascii_whitespace) {
        return Err(Errno::EINVAL);
    }
    std::str::from_utf8(&text[start..end])
        .ok()
        .and_then(|t| i64::from_str_radix(t, radix).ok())
        .ok_or(Errno::EINVAL)
}

/// Why sysfs gives no state for a module ([`HostPaths::read_initstate`]).
#[derive(Debug)]
pub enum SysfsStateError {
    /// The kernel does not have it: neither the file nor the module's directory.
    Absent(std::io::Error),
    /// The file holds something else than kmod knows (kmod: EINVAL, with a message).
    Unknown {
        /// The initstate file.
        file: PathBuf,
        /// What it holds.
        text: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_kmods_read_str_long() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("n");
        for (text, want) in [
            ("65536\n", Ok(65536)),
            ("  -3\n", Ok(-3)),
            ("12 \n", Ok(12)),
            // strtol must stop at white space, not at the end or another character.
            ("12", Err(Errno::EINVAL)),
            ("12x\n", Err(Errno::EINVAL)),
            ("junk\n", Err(Errno::EINVAL)),
            ("\n", Err(Errno::EINVAL)),
            ("", Err(Errno::EINVAL)),
        ] {
            std::fs::write(&p, text).expect("write");
            let f = std::fs::File::open(&p).expect("open");
            assert_eq!(read_long(&f, 10), want, "{text:?}");
        }
    }

    #[test]
    fn reads_fake_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let pm = t.path().join("modules");
        std::fs::write(&pm, "ext4 1 0 - Live 0x0\njbd2 2 1 ext4, Live 0x0\n").expect("write");
        let dev = t.path().join("sys/devices/pci0000:00/0000:00:1f.2");
        std::fs::create_dir_all(&dev).expect("mkdir");
        std::fs::write(dev.join("modalias"), "pci:v00008086d00002922sv*\n").expect("write");
        let dev2 = t.path().join("sys/devices/pci0000:00/0000:00:1f.3");
        std::fs::create_dir_all(&dev2).expect("mkdir");
        std::fs::write(dev2.join("modalias"), "pci:v00008086d00002922sv*\n").expect("write");
        std::fs::write(t.path().join("sys/devices/modalias"), "\n").expect("write");
        let m = t.path().join("sys/module/ext4");
        std::fs::create_dir_all(&m).expect("mkdir");
        std::fs::write(m.join("initstate"), "live\n").expect("write");
        std::fs::create_dir_all(t.path().join("sys/module/crc16")).expect("mkdir");
        let h = HostPaths {
            proc_modules: pm,
            sysfs: t.path().join("sys"),
            cmdline: t.path().join("cmdline"),
        };
        assert_eq!(h.loaded_modules().expect("read"), ["ext4", "jbd2"]);
        let files = h.modalias_files();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0, "pci:v00008086d00002922sv*");
        assert_eq!(files[0].1, dev);
        assert_eq!(h.modaliases(), ["pci:v00008086d00002922sv*"]);
        assert_eq!(h.initstate("ext4", false), Some(InitState::Live));
        assert_eq!(h.initstate("ext4", true), Some(InitState::Builtin));
        assert_eq!(h.initstate("crc16", false), Some(InitState::Coming));
        assert_eq!(h.initstate("jbd2", false), None);
    }
}
