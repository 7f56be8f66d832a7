//! `modinfo`: print what a module file says about itself, in kmod's format.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;
use rprobe_index::index::ModuleDir;
use rprobe_index::moddir;
use rprobe_modfile::record::{self, ReadOptions};
use rprobe_resolve::modinfo::{modinfo_targets, InfoTarget};

/// kmod-compatible modinfo options.
#[derive(Parser, Debug)]
#[command(
    name = "modinfo",
    disable_version_flag = true,
    args_override_self = true
)]
struct Args {
    /// Print only 'author'.
    #[arg(short = 'a', long = "author", overrides_with_all = ["description", "license", "parameters", "filename", "field"])]
    author: bool,
    /// Print only 'description'.
    #[arg(short = 'd', long = "description", overrides_with_all = ["author", "license", "parameters", "filename", "field"])]
    description: bool,
    /// Print only 'license'.
    #[arg(short = 'l', long = "license", overrides_with_all = ["author", "description", "parameters", "filename", "field"])]
    license: bool,
    /// Print only 'parm'.
    #[arg(short = 'p', long = "parameters", overrides_with_all = ["author", "description", "license", "filename", "field"])]
    parameters: bool,
    /// Print only 'filename'.
    #[arg(short = 'n', long = "filename", overrides_with_all = ["author", "description", "license", "parameters", "field"])]
    filename: bool,
    /// Use \0 instead of \n.
    #[arg(short = '0', long = "null")]
    null: bool,
    /// Handle arguments as module names instead of aliases or file names.
    #[arg(short = 'm', long = "modname")]
    modname: bool,
    /// Print only this field.
    #[arg(short = 'F', long = "field", overrides_with_all = ["author", "description", "license", "parameters", "filename"])]
    field: Option<String>,
    /// Use VERSION instead of `uname -r`.
    #[arg(short = 'k', long = "set-version")]
    version: Option<String>,
    /// Use DIR as filesystem root for /lib/modules.
    #[arg(short = 'b', long = "basedir")]
    basedir: Option<PathBuf>,
    /// Show version.
    #[arg(short = 'V', long = "version")]
    show_version: bool,
    /// Print one JSON array of modules (schema: docs/json.md); a field option keeps only
    /// that key.
    #[arg(long = "json")]
    json: bool,
    /// Modules: names, aliases or files.
    modules: Vec<String>,
}

/// The one field to print: the last of -a -d -l -p -n -F given (clap keeps only the last,
/// as getopt's last assignment wins in kmod).
fn field_of(args: &Args) -> Option<String> {
    let named = [
        (args.author, "author"),
        (args.description, "description"),
        (args.license, "license"),
        (args.parameters, "parm"),
        (args.filename, "filename"),
    ];
    args.field.clone().or_else(|| {
        named
            .iter()
            .find(|(set, _)| *set)
            .map(|(_, f)| f.to_string())
    })
}

struct Out {
    sep: u8,
    field: Option<String>,
    buf: Vec<u8>,
}

impl Out {
    fn line(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(self.sep);
    }
}

/// One module's output, as kmod's modinfo prints it.
fn show(out: &mut Out, filename: &str, builtin_name: Option<&str>, info: &[(String, String)]) {
    let field = out.field.clone();
    let f = field.as_deref();
    if let Some(name) = builtin_name {
        match f {
            None => out.line(&format!("{:<16}{}", "name:", name)),
            Some("name") => out.line(name),
            _ => {}
        }
    }
    match f {
        Some("filename") => {
            out.line(filename);
            return;
        }
        None => out.line(&format!("{:<16}{}", "filename:", filename)),
        _ => {}
    }
    if f == Some("parm") {
        for (name, desc, ty) in params(info) {
            match (desc, ty) {
                (None, Some(t)) => out.line(&format!("{name}: ({t})")),
                (Some(d), Some(t)) => out.line(&format!("{name}:{d} ({t})")),
                (Some(d), None) => out.line(&format!("{name}:{d}")),
                (None, None) => {}
            }
        }
        return;
    }
    for (k, v) in info {
        if let Some(f) = f {
            if f == k {
                out.line(v);
            }
            continue;
        }
        if k == "parm" || k == "parmtype" {
            continue;
        }
        if out.sep == 0 {
            out.line(&format!("{k}={v}"));
        } else {
            let pad = 15usize.saturating_sub(k.len());
            out.line(&format!("{k}:{:pad$}{v}", ""));
        }
    }
    if f.is_some() {
        return;
    }
    for (name, desc, ty) in params(info) {
        match (desc, ty) {
            (None, Some(t)) => out.line(&format!("{:<16}{name}:{t}", "parm:")),
            (Some(d), Some(t)) => out.line(&format!("{:<16}{name}:{d} ({t})", "parm:")),
            (Some(d), None) => out.line(&format!("{:<16}{name}:{d}", "parm:")),
            (None, None) => {}
        }
    }
}

/// parm and parmtype entries merged per parameter, listed newest-first as kmod does
/// (a parameter's position is where it was first seen, the list is printed in reverse).
fn params(info: &[(String, String)]) -> Vec<(String, Option<String>, Option<String>)> {
    let mut list: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for (k, v) in info {
        if k != "parm" && k != "parmtype" {
            continue;
        }
        let Some((name, rest)) = v.split_once(':') else {
            crate::out::log(
                "modinfo",
                rprobe_index::log::Level::Error,
                format_args!("Found invalid \"{k}={v}\": missing ':'"),
            );
            continue;
        };
        let i = match list.iter().position(|p| p.0 == name) {
            Some(i) => i,
            None => {
                list.push((name.to_string(), None, None));
                list.len() - 1
            }
        };
        if k == "parm" {
            list[i].1 = Some(rest.to_string());
        } else {
            list[i].2 = Some(rest.to_string());
        }
    }
    list.reverse();
    list
}

/// Runs modinfo with `args` (argv[0] first); returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    let args: Args = match crate::parse_args("modinfo", &raw, 1) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.show_version {
        crate::outln!(
            std::io::stdout(),
            "rprobe modinfo version {}",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    if args.modules.is_empty() {
        crate::out::log(
            "modinfo",
            rprobe_index::log::Level::Error,
            "missing module or filename.",
        );
        return 1;
    }
    let mut out = Out {
        sep: if args.null { 0 } else { b'\n' },
        field: field_of(&args),
        buf: Vec::new(),
    };
    let root = args
        .basedir
        .as_ref()
        .map(|b| b.to_string_lossy().into_owned());
    let mut options = rprobe_context::Options::new(
        crate::generation(),
        root.as_deref(),
        args.version.as_deref(),
    );
    options.cmdline = rprobe_context::Cmdline::None;
    let ctx = rprobe_context::Context::new(options);
    // modinfo looks names up only in a module directory that is there.
    let dir = ctx.dir_error().is_none().then(|| ctx.dir());
    let mut failed = false;
    if args.json {
        let field = field_of(&args);
        let mut all = Vec::new();
        for m in &args.modules {
            failed |= !json_one(&mut all, lookup(dir, m, args.modname), field.as_deref());
        }
        crate::json::print(&all);
        return i32::from(failed);
    }
    let stdout = std::io::stdout();
    for m in &args.modules {
        failed |= !text_one(&mut out, lookup(dir, m, args.modname));
        let mut lock = stdout.lock();
        crate::out::check(lock.write_all(&out.buf));
        crate::out::check(lock.flush());
        out.buf.clear();
    }
    i32::from(failed)
}

/// A module modinfo found: a file or a built-in module, with its fields in order.
struct Found {
    /// The module name.
    name: String,
    /// Its file (absolute), or "(builtin)".
    filename: String,
    /// Built into the kernel.
    builtin: bool,
    /// Its modinfo key/value pairs (the signature's last).
    info: Vec<(String, String)>,
}

/// One thing looking an argument up gave, in order.
enum Entry {
    /// A module, its fields read.
    Module(Found),
    /// A module file whose fields cannot be read (none there, or the file cannot be
    /// decoded): its file name (absolute), and kmod's words for the failure.
    Unreadable {
        /// The file.
        filename: String,
        /// The line kmod 34's library logs first through its default logger (function,
        /// message), where rprobe reproduces it.
        library: Option<(&'static str, &'static str)>,
        /// The message (after "modinfo: ERROR: ").
        error: String,
    },
    /// A failure in kmod's words (after "modinfo: ERROR: "): nothing found, or a module
    /// that cannot be read.
    Error(String),
}

/// Looks one argument up as kmod's modinfo does: a module file by path (unless
/// `modname_only`), else a name through `dir` (absent: none is there). Returns what it
/// found, failures included, in the order modinfo shows them.
fn lookup(dir: Option<&ModuleDir>, given: &str, modname_only: bool) -> Vec<Entry> {
    if !modname_only && is_module_file(given) {
        return vec![read(Path::new(given))];
    }
    let missing = || {
        if modname_only {
            format!("Module name {given} not found.")
        } else {
            format!("Module {given} not found.")
        }
    };
    let targets = match dir.map(|d| modinfo_targets(d, given, modname_only)) {
        Some(Ok(t)) if !t.is_empty() => t,
        Some(Err(_)) if !modname_only => {
            return vec![Entry::Error(format!("Module alias {given} not found."))];
        }
        _ => return vec![Entry::Error(missing())],
    };
    targets
        .into_iter()
        .map(|t| match t {
            InfoTarget::File(path) => read(&path),
            InfoTarget::Builtin { name, modinfo } => Entry::Module(Found {
                name,
                filename: "(builtin)".into(),
                builtin: true,
                info: modinfo,
            }),
        })
        .collect()
}

/// Reads a module file's fields.
fn read(path: &Path) -> Entry {
    let opts = ReadOptions {
        symbols: false,
        signature: true,
        modinfo_keys: None,
        zstd_needs_size: crate::generation().zstd_needs_declared_size(),
    };
    let filename = moddir::absolute(path).to_string_lossy().into_owned();
    match record::read_module_with(path, opts) {
        Ok(rec) if !rec.has_modinfo => Entry::Unreadable {
            filename,
            library: None,
            error: format!(
                "could not get modinfo from '{}': {}: no .modinfo section",
                rec.name,
                path.display()
            ),
        },
        Ok(rec) => Entry::Module(Found {
            info: rec.info_with_signature(),
            name: rec.name,
            filename,
            builtin: false,
        }),
        // As kmod: the module exists, its fields cannot be had; the errno's words, then
        // what is wrong in parentheses.
        Err(e) => Entry::Unreadable {
            filename,
            library: e.library_words(),
            error: format!(
                "could not get modinfo from '{}': {}",
                rprobe_index::name::modname_from_path(path),
                e.kmod_words_naming_file()
            ),
        },
    }
}

/// One argument's entries as text into `out` (failures to stderr, in order); false when
/// one failed.
fn text_one(out: &mut Out, entries: Vec<Entry>) -> bool {
    let mut ok = true;
    for e in entries {
        match e {
            Entry::Module(m) => {
                let builtin_name = m.builtin.then_some(m.name.as_str());
                show(out, &m.filename, builtin_name, &m.info);
            }
            Entry::Unreadable {
                filename,
                library,
                error,
            } => {
                // As kmod: the file name is printed, then the failure (none when the file
                // name is all that was asked for).
                show(out, &filename, None, &[]);
                if out.field.as_deref() != Some("filename") {
                    library_line(library);
                    crate::out::log("modinfo", rprobe_index::log::Level::Error, &error);
                    ok = false;
                }
            }
            Entry::Error(m) => {
                crate::out::log("modinfo", rprobe_index::log::Level::Error, &m);
                ok = false;
            }
        }
    }
    ok
}

/// One argument's entries for `--json`, added to `all` (with only `field` when one is
/// given; failures to stderr, in order); false when one failed.
fn json_one(
    all: &mut Vec<crate::json::ModinfoJson>,
    entries: Vec<Entry>,
    field: Option<&str>,
) -> bool {
    use crate::json::{Field, ModinfoJson, Param};
    let keep = |k: &str| field.is_none_or(|f| f == k);
    let mut ok = true;
    for e in entries {
        let m = match e {
            Entry::Module(m) => m,
            Entry::Unreadable {
                library, error: m, ..
            } => {
                library_line(library);
                crate::out::log("modinfo", rprobe_index::log::Level::Error, &m);
                ok = false;
                continue;
            }
            Entry::Error(m) => {
                crate::out::log("modinfo", rprobe_index::log::Level::Error, &m);
                ok = false;
                continue;
            }
        };
        let parameters = if keep("parm") {
            params(&m.info)
                .into_iter()
                .map(|(name, description, r#type)| Param {
                    name,
                    description,
                    r#type,
                })
                .collect()
        } else {
            Vec::new()
        };
        all.push(ModinfoJson {
            name: m.name,
            filename: m.filename,
            builtin: m.builtin,
            fields: m
                .info
                .into_iter()
                .filter(|(k, _)| keep(k))
                .map(|(key, value)| Field { key, value })
                .collect(),
            parameters,
        });
    }
    ok
}

/// What kmod 34's library prints through its default logger (modinfo sets none) before
/// modinfo's own error.
fn library_line(library: Option<(&str, &str)>) {
    if let Some((func, line)) = library {
        crate::out::library_error(func, line);
    }
}

fn is_module_file(name: &str) -> bool {
    rprobe_index::fsx::stat(std::path::Path::new(name)).is_ok_and(|m| m.is_file())
        && rprobe_index::name::is_module_filename(name)
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_merge_and_reverse() {
        let info = vec![
            ("parm".to_string(), "a:first".to_string()),
            ("parmtype".to_string(), "a:int".to_string()),
            ("parmtype".to_string(), "b:bool".to_string()),
        ];
        let p = params(&info);
        assert_eq!(p[0], ("b".into(), None, Some("bool".into())));
        assert_eq!(p[1], ("a".into(), Some("first".into()), Some("int".into())));
    }
}
