//! `--json`: the machine-readable forms of modinfo, modprobe --show-depends, lsmod and
//! `initramfs --list`. Each command has one schema, documented in docs/json.md; the field
//! names here are that schema (renaming one is a breaking change).

use std::path::Path;

use rprobe_resolve::{Module, Step, Via};
use serde::Serialize;

/// Prints a value as pretty JSON and a newline on standard output.
pub fn print<T: Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => crate::outln!(std::io::stdout(), "{s}"),
        Err(e) => crate::out::log(
            "rprobe",
            rprobe_index::log::Level::Error,
            format_args!("JSON output: {e}"),
        ),
    }
}

/// One module in `modinfo --json`.
#[derive(Serialize, Debug)]
pub struct ModinfoJson {
    /// The module name.
    pub name: String,
    /// Its file, or "(builtin)".
    pub filename: String,
    /// Built into the kernel.
    pub builtin: bool,
    /// Every modinfo key/value in file order (signature fields last), parm and parmtype
    /// included as they are.
    pub fields: Vec<Field>,
    /// parm and parmtype merged per parameter, in modinfo's order.
    pub parameters: Vec<Param>,
}

/// A modinfo key and value.
#[derive(Serialize, Debug)]
pub struct Field {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A module parameter.
#[derive(Serialize, Debug)]
pub struct Param {
    /// The parameter name.
    pub name: String,
    /// Its description (parm), if any.
    pub description: Option<String>,
    /// Its type (parmtype), if any.
    pub r#type: Option<String>,
}

/// One planned step in `modprobe --show-depends --json`.
#[derive(Serialize, Debug)]
pub struct StepJson {
    /// What the text output prints for it: "insmod", "install", "builtin", or "none" (no
    /// line: a module without a file that is not built in).
    pub action: &'static str,
    /// The module name.
    pub module: String,
    /// Its file, if any.
    pub path: Option<String>,
    /// Options passed to it.
    pub options: String,
    /// The install command run instead of loading it, as printed ($CMDLINE_OPTS kept).
    pub install: Option<String>,
    /// Built into the kernel.
    pub builtin: bool,
    /// A hard dependency of the request (a failure stops the plan).
    pub required: bool,
    /// Why it is in the plan.
    pub via: ViaJson,
}

/// Why a step is in a plan.
#[derive(Serialize, Debug)]
pub struct ViaJson {
    /// "requested", "dependency", "softdep-pre" or "softdep-post".
    pub kind: &'static str,
    /// The module whose dependency or softdep it is (null for the request).
    pub of: Option<String>,
}

/// One looked-up module and its plan in `modprobe --show-depends --json`.
#[derive(Serialize, Debug)]
pub struct PlanJson {
    /// The name given on the command line.
    pub request: String,
    /// The module it found.
    pub module: String,
    /// The alias it was found by, if any.
    pub alias: Option<String>,
    /// The steps in order.
    pub steps: Vec<StepJson>,
}

fn path_str(p: Option<&Path>) -> Option<String> {
    p.map(|p| p.to_string_lossy().into_owned())
}

impl StepJson {
    /// A step as the schema gives it.
    pub fn from_step(s: &Step) -> StepJson {
        let action = if s.install.is_some() {
            "install"
        } else if s.module.path.is_some() {
            "insmod"
        } else if s.module.builtin {
            "builtin"
        } else {
            "none"
        };
        let (kind, of) = match &s.via {
            Via::Requested => ("requested", None),
            Via::Dependency(m) => ("dependency", Some(m.clone())),
            Via::SoftdepPre(m) => ("softdep-pre", Some(m.clone())),
            Via::SoftdepPost(m) => ("softdep-post", Some(m.clone())),
        };
        StepJson {
            action,
            module: s.module.name.clone(),
            path: path_str(s.module.path.as_deref()),
            options: s.options.clone(),
            install: s.install.clone(),
            builtin: s.module.builtin,
            required: s.required,
            via: ViaJson { kind, of },
        }
    }
}

impl PlanJson {
    /// The plan of `m`, looked up for `request`.
    pub fn new(request: &str, m: &Module, steps: &[Step]) -> PlanJson {
        PlanJson {
            request: request.to_string(),
            module: m.name.clone(),
            alias: m.alias.clone(),
            steps: steps.iter().map(StepJson::from_step).collect(),
        }
    }
}

/// One row of `lsmod --json`.
#[derive(Serialize, Debug)]
pub struct LsmodJson {
    /// The module name.
    pub name: String,
    /// Its size in bytes (a negative errno when unreadable, as the text shows it).
    pub size: i64,
    /// Its use count.
    pub used: i64,
    /// The modules using it.
    pub used_by: Vec<String>,
}

impl From<rprobe_load::LsmodRow> for LsmodJson {
    fn from(r: rprobe_load::LsmodRow) -> Self {
        LsmodJson {
            name: r.name,
            size: r.size,
            used: r.refcnt,
            used_by: r.holders,
        }
    }
}

/// One entry of `initramfs --list --json`.
#[derive(Serialize, Debug)]
pub struct ListedJson {
    /// The path inside the image.
    pub name: String,
    /// "file", "dir", "symlink" or "other".
    pub r#type: &'static str,
    /// The mode bits (type and permissions), as stored.
    pub mode: u32,
    /// The data size in bytes.
    pub size: u64,
    /// The modification time (seconds since the epoch).
    pub mtime: u32,
    /// A symbolic link's target (null for other entries).
    pub target: Option<String>,
}

impl From<&rprobe_initramfs::cpio::Listed> for ListedJson {
    fn from(e: &rprobe_initramfs::cpio::Listed) -> Self {
        let r#type = match e.mode & 0o170000 {
            0o100000 => "file",
            0o040000 => "dir",
            0o120000 => "symlink",
            _ => "other",
        };
        ListedJson {
            name: e.name.clone(),
            r#type,
            mode: e.mode,
            size: e.size,
            mtime: e.mtime,
            target: e.target.clone(),
        }
    }
}
