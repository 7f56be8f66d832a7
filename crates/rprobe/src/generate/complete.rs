//! `rprobe complete-modules` (hidden): the module names the completion files offer, from
//! modules.dep and modules.builtin of a module directory, or from the loaded modules.

use std::ffi::OsString;
use std::path::Path;

/// `rprobe complete-modules`'s definition.
pub(crate) fn command() -> clap::Command {
    clap::Command::new("complete-modules")
        .about("Print the module names of a module directory, one a line (for completions)")
        .arg(
            clap::Arg::new("dirname")
                .short('d')
                .long("dirname")
                .value_name("DIR")
                .value_hint(clap::ValueHint::DirPath)
                .help("The root directory holding lib/modules (default /)"),
        )
        .arg(
            clap::Arg::new("release")
                .short('S')
                .long("set-version")
                .value_name("VERSION")
                .help("The kernel release (default: the running kernel's)"),
        )
        .arg(
            clap::Arg::new("loaded")
                .long("loaded")
                .action(clap::ArgAction::SetTrue)
                .help("Print the loaded modules (/proc/modules, or $RPROBE_PROC_MODULES) instead"),
        )
}

/// Runs the hidden `complete-modules`: prints module names, one a line, sorted.
pub fn main(args: Vec<OsString>) -> i32 {
    let m = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            crate::errln!("complete-modules: ERROR: {}", e.kind());
            return 2;
        }
    };
    let mut names: Vec<String> = if m.get_flag("loaded") {
        rprobe_load::HostPaths::from_env()
            .loaded_modules()
            .unwrap_or_default()
    } else {
        let dir = rprobe_index::moddir::tool_module_dir(
            m.get_one::<String>("dirname").map(String::as_str),
            m.get_one::<String>("release").map(String::as_str),
        );
        let dir = Path::new(&dir);
        let mut v = Vec::new();
        for (file, head) in [("modules.dep", true), ("modules.builtin", false)] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            for line in text.lines() {
                let path = if head {
                    line.split(':').next().unwrap_or("")
                } else {
                    line
                };
                let path = path.trim();
                if !path.is_empty() {
                    v.push(rprobe_index::name::modname_from_path(Path::new(path)));
                }
            }
        }
        v
    };
    names.sort();
    names.dedup();
    let mut out = std::io::stdout().lock();
    for n in names {
        crate::outln!(out, "{n}");
    }
    0
}
