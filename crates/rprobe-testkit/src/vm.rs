//! Booting a real kernel under qemu (TCG, never KVM) with an initramfs, and reading the
//! result lines its init prints on the serial console.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The static rprobe the VM tier puts in images: $RPROBE_STATIC_BIN (scripts/test builds
/// it with scripts/build-static).
pub fn static_rprobe() -> Option<PathBuf> {
    std::env::var_os("RPROBE_STATIC_BIN")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// The static rprobe built to behave as kmod 34 by default, for Debian 13 systems:
/// $RPROBE_STATIC_BIN_34 (scripts/test builds it with `RPROBE_KMOD_DEFAULT=34
/// scripts/build-static`).
pub fn static_rprobe_34() -> Option<PathBuf> {
    std::env::var_os("RPROBE_STATIC_BIN_34")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// The busybox-static binary (Debian's busybox-static package).
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// What a boot printed on the console, and whether it ended by itself before the timeout.
#[derive(Debug)]
pub struct Boot {
    /// Everything qemu printed (the serial console).
    pub console: String,
    /// False when the timeout killed qemu.
    pub finished: bool,
}

impl Boot {
    /// The last `n` console lines, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The `RESULT NAME PASS|FAIL detail` lines, as (name, passed, detail).
    pub fn results(&self) -> Vec<(String, bool, String)> {
        self.console
            .lines()
            .filter_map(|l| {
                let l = l.trim_end_matches('\r');
                let i = l.find("RESULT ")?;
                let mut w = l[i + 7..].splitn(3, ' ');
                let name = w.next()?.to_string();
                let pass = w.next()? == "PASS";
                Some((name, pass, w.next().unwrap_or("").to_string()))
            })
            .collect()
    }
}

/// Boots `kernel` with `initrd` under qemu-system-x86_64 (TCG), kernel command line
/// `append` after the console settings; kills it after `timeout`.
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    append: &str,
    timeout: Duration,
) -> std::io::Result<Boot> {
    boot_with(
        kernel,
        initrd,
        append,
        timeout,
        &["-m", "1024", "-smp", "1"],
    )
}

/// [`boot`] with more qemu arguments (memory, CPUs, devices) in `extra`.
pub fn boot_with(
    kernel: &Path,
    initrd: &Path,
    append: &str,
    timeout: Duration,
    extra: &[&str],
) -> std::io::Result<Boot> {
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-cpu", "max", "-nographic", "-no-reboot", "-nodefaults"])
        .args(extra)
        .args(["-serial", "stdio", "-display", "none"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("console=ttyS0 panic=-1 loglevel=4 {append}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let mut finished = true;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            finished = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = reader.join().unwrap_or_default();
    Ok(Boot {
        console: String::from_utf8_lossy(&out).into_owned(),
        finished,
    })
}
