//! Where modules live: the module directory for a root and kernel release, spelled as kmod
//! spells it, and the running kernel's release (uname(2), as kmod asks for it).

use std::path::{Path, PathBuf};

/// The module directory, fixed at build time as kmod fixes it (`RPROBE_MODULE_DIRECTORY`,
/// else /lib/modules, which Debian 12's and 13's kmod use; other distributions build kmod
/// 32 and later with /usr/lib/modules).
pub const MODULE_DIRECTORY: &str = match option_env!("RPROBE_MODULE_DIRECTORY") {
    Some(d) => d,
    None => "/lib/modules",
};

/// The distribution's configuration root, fixed at build time (`RPROBE_DISTCONFDIR`, else
/// /usr/lib): kmod 32 and later also read DISTCONFDIR/modprobe.d and DISTCONFDIR/depmod.d.
pub const DISTCONFDIR: &str = match option_env!("RPROBE_DISTCONFDIR") {
    Some(d) => d,
    None => "/usr/lib",
};

/// The directories kmod reads `kind` (`modprobe.d` or `depmod.d`) from when no -C is given,
/// in kmod's order (a file name in an earlier one hides the same name in later ones): kmod
/// 30's four, and kmod 34's five, with DISTCONFDIR's before /lib's.
pub fn config_dirs(kind: &str, generation: crate::generation::Generation) -> Vec<PathBuf> {
    let mut dirs = vec![
        format!("/etc/{kind}"),
        format!("/run/{kind}"),
        format!("/usr/local/lib/{kind}"),
    ];
    if generation.reads_distconfdir() {
        dirs.push(format!("{DISTCONFDIR}/{kind}"));
    }
    dirs.push(format!("/lib/{kind}"));
    dirs.into_iter().map(PathBuf::from).collect()
}

/// The running kernel's release, from uname(2); `None` when the call fails.
pub fn kernel_release() -> Option<String> {
    nix::sys::utsname::uname()
        .ok()
        .map(|u| u.release().to_string_lossy().into_owned())
}

/// ROOT/MODULEDIR/RELEASE as kmod's depmod spells it: `root` prepended as given (none:
/// nothing), `moduledir` defaulting to /lib/modules with a leading '/' added when missing.
pub fn module_dir(root: Option<&Path>, moduledir: Option<&str>, release: &str) -> String {
    let root = root
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default();
    let md = moduledir.unwrap_or(MODULE_DIRECTORY);
    let sep = if md.starts_with('/') { "" } else { "/" };
    format!("{root}{sep}{md}/{release}")
}

/// A path made absolute against the working directory without resolving links, as kmod
/// makes its module directory and the file names modinfo prints absolute.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The module directory modprobe and modinfo use for `-d ROOT` and `-S`/`-k RELEASE`
/// (`None`: the running kernel's), made absolute.
pub fn tool_module_dir(root: Option<&str>, release: Option<&str>) -> String {
    let release = match release {
        Some(r) => r.to_string(),
        None => kernel_release().unwrap_or_default(),
    };
    let dir = module_dir(root.map(Path::new), None, &release);
    absolute(Path::new(&dir)).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_dir_spelling() {
        assert_eq!(module_dir(None, None, "6.1"), "/lib/modules/6.1");
        assert_eq!(
            module_dir(Some(Path::new("/r")), Some("usr/lib/modules"), "6.1"),
            "/r/usr/lib/modules/6.1"
        );
        assert_eq!(
            tool_module_dir(Some("/r"), Some("6.1")),
            "/r/lib/modules/6.1"
        );
    }

    #[test]
    fn release_is_uname() {
        let r = kernel_release().expect("uname works");
        let proc = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        if !proc.is_empty() {
            assert_eq!(r, proc.trim());
        }
    }
}
