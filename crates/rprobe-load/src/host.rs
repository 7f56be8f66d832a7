//! The host: where the running kernel's state is read (/proc/modules, /sys, /proc/cmdline)
//! and the readings every tool shares (the loaded modules' names, the devices' modaliases,
//! a module's state). The `RPROBE_*` test overrides are read here and nowhere else.

use std::path::PathBuf;

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
    pub(crate) fn module_dir(&self, name: &str) -> PathBuf {
        self.sysfs.join("module").join(name)
    }

    /// What sysfs alone says of a module's state.
    fn sysfs_initstate(&self, name: &str) -> Option<InitState> {
        let d = self.module_dir(name);
        match std::fs::read_to_string(d.join("initstate")) {
            Ok(s) => match s.trim() {
                "live" => Some(InitState::Live),
                "coming" => Some(InitState::Coming),
                "going" => Some(InitState::Going),
                _ => None,
            },
            // As kmod: a module directory without initstate (a module built into the
            // running kernel) reads as "coming". Built-in for kmod means the target
            // tree's modules.builtin, which the caller passes, not sysfs.
            Err(_) if rprobe_index::fsx::is_dir(&d) => Some(InitState::Coming),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
