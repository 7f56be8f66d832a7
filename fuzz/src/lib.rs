//! Shared pieces of the fuzz targets.

use std::path::{Path, PathBuf};

/// Prefix of the scratch directories the targets make (followed by the process id).
const PREFIX: &str = "rprobe-fuzz-";

/// A scratch directory for the whole run of one fuzz target: memory-backed (/dev/shm)
/// when it exists, named after this process. A target keeps it in a static, which is
/// never dropped, so directories left by earlier runs whose process is gone are removed
/// here first.
pub fn scratch_dir(target: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    if let Ok(rd) = std::fs::read_dir(&base) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
                continue;
            };
            let pid = rest.split('-').next().unwrap_or_default();
            if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("{PREFIX}{}-{target}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}
