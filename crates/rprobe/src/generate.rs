//! `rprobe generate man|completions DIR`: man pages and shell completions made from the
//! command-line definitions, for packagers (as ripgrep does).

use std::ffi::OsString;
use std::path::PathBuf;

fn commands() -> Vec<clap::Command> {
    vec![
        crate::modprobe::command().name("modprobe"),
        crate::depmod::command().name("depmod"),
        crate::modinfo::command().name("modinfo"),
        crate::insmod::command().name("insmod"),
        crate::rmmod::command().name("rmmod"),
        crate::lsmod::command().name("lsmod"),
        crate::kmod::command().name("kmod"),
        crate::initramfs::command().name("rprobe-initramfs"),
        crate::coldplug::command().name("rprobe-coldplug"),
    ]
}

/// Runs `generate`; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let a: Vec<String> = args
        .iter()
        .skip(1)
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let (Some(what), Some(dir)) = (a.first(), a.get(1)) else {
        crate::errln!("usage: rprobe generate man|completions DIR");
        return 2;
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        crate::errln!("generate: ERROR: {}: {e}", dir.display());
        return 1;
    }
    for mut cmd in commands() {
        let name = cmd.get_name().to_string();
        let res = match what.as_str() {
            "man" => {
                let mut buf = Vec::new();
                clap_mangen::Man::new(cmd.clone())
                    .section("8")
                    .render(&mut buf)
                    .and_then(|_| std::fs::write(dir.join(format!("{name}.8")), buf))
            }
            "completions" => {
                let mut out = Vec::new();
                clap_complete::generate(
                    clap_complete::Shell::Bash,
                    &mut cmd,
                    name.clone(),
                    &mut out,
                );
                std::fs::write(dir.join(format!("{name}.bash")), out)
            }
            _ => {
                crate::errln!("usage: rprobe generate man|completions DIR");
                return 2;
            }
        };
        if let Err(e) = res {
            crate::errln!("generate: ERROR: {}: {e}", dir.display());
            return 1;
        }
    }
    0
}
