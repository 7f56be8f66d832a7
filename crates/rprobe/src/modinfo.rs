//! `modinfo`: print what a module file says about itself, in kmod's format.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;
use rprobe_index::index::ModuleDir;
use rprobe_index::moddir;
use rprobe_index::record::{self, ReadOptions};
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
            crate::errln!("modinfo: ERROR: Found invalid \"{k}={v}\": missing ':'");
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
        crate::errln!("modinfo: ERROR: missing module or filename.");
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
            failed |= !json_one(&mut all, dir, m, args.modname, field.as_deref());
        }
        crate::json::print(&all);
        return i32::from(failed);
    }
    let stdout = std::io::stdout();
    for m in &args.modules {
        let ok = if !args.modname && is_module_file(m) {
            by_path(&mut out, Path::new(m))
        } else {
            by_name(&mut out, dir, m, args.modname)
        };
        failed |= !ok;
        let mut lock = stdout.lock();
        crate::out::check(lock.write_all(&out.buf));
        crate::out::check(lock.flush());
        out.buf.clear();
    }
    i32::from(failed)
}

/// One argument's modules for `--json`, added to `all`; false (after kmod's message) when
/// it names none or one cannot be read.
fn json_one(
    all: &mut Vec<crate::json::ModinfoJson>,
    dir: Option<&ModuleDir>,
    given: &str,
    modname_only: bool,
    field: Option<&str>,
) -> bool {
    use crate::json::{Field, ModinfoJson, Param};
    let mut entry = |name: String, filename: String, builtin: bool, info: &[(String, String)]| {
        let keep = |k: &str| field.is_none_or(|f| f == k);
        let parameters = if keep("parm") {
            params(info)
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
            name,
            filename,
            builtin,
            fields: info
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| Field {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            parameters,
        });
    };
    let read = |path: &Path| -> Option<(String, Vec<(String, String)>)> {
        let opts = ReadOptions {
            symbols: false,
            signature: true,
            modinfo_keys: None,
            zstd_needs_size: crate::generation().zstd_needs_declared_size(),
        };
        match record::read_module_with(path, opts) {
            Ok(rec) if !rec.has_modinfo => {
                crate::errln!(
                    "modinfo: ERROR: could not get modinfo from '{}': {}: no .modinfo section",
                    rec.name,
                    path.display()
                );
                None
            }
            Ok(rec) => Some((rec.name.clone(), rec.info_with_signature())),
            Err(e) => {
                crate::errln!("modinfo: ERROR: {e}");
                None
            }
        }
    };
    if !modname_only && is_module_file(given) {
        let Some((name, info)) = read(Path::new(given)) else {
            return false;
        };
        let f = moddir::absolute(Path::new(given))
            .to_string_lossy()
            .into_owned();
        entry(name, f, false, &info);
        return true;
    }
    let missing = if modname_only {
        format!("Module name {given} not found.")
    } else {
        format!("Module {given} not found.")
    };
    let targets = match dir.map(|d| modinfo_targets(d, given, modname_only)) {
        Some(Ok(t)) if !t.is_empty() => t,
        Some(Err(_)) if !modname_only => {
            crate::errln!("modinfo: ERROR: Module alias {given} not found.");
            return false;
        }
        _ => {
            crate::errln!("modinfo: ERROR: {missing}");
            return false;
        }
    };
    let mut ok = true;
    for t in targets {
        match t {
            InfoTarget::File(path) => match read(&path) {
                Some((name, info)) => {
                    entry(name, path.to_string_lossy().into_owned(), false, &info)
                }
                None => ok = false,
            },
            InfoTarget::Builtin { name, modinfo } => {
                entry(name, "(builtin)".into(), true, &modinfo)
            }
        }
    }
    ok
}

fn is_module_file(name: &str) -> bool {
    rprobe_index::fsx::stat(std::path::Path::new(name)).is_ok_and(|m| m.is_file())
        && rprobe_index::name::is_module_filename(name)
}

fn by_path(out: &mut Out, path: &Path) -> bool {
    match record::read_module_with(
        path,
        ReadOptions {
            symbols: false,
            signature: true,
            modinfo_keys: None,
            zstd_needs_size: crate::generation().zstd_needs_declared_size(),
        },
    ) {
        Ok(rec) if !rec.has_modinfo => {
            // As kmod: the file name is printed, then the failure.
            let mut o = Out {
                sep: out.sep,
                field: Some("filename".into()),
                buf: Vec::new(),
            };
            if out.field.is_none() {
                o.field = None;
                o.buf
                    .extend_from_slice(format!("{:<16}", "filename:").as_bytes());
                o.buf
                    .extend_from_slice(moddir::absolute(path).to_string_lossy().as_bytes());
                o.buf.push(out.sep);
            } else if out.field.as_deref() == Some("filename") {
                show(out, &moddir::absolute(path).to_string_lossy(), None, &[]);
                return true;
            }
            out.buf.extend_from_slice(&o.buf);
            crate::errln!(
                "modinfo: ERROR: could not get modinfo from '{}': {}: no .modinfo section",
                rec.name,
                path.display()
            );
            false
        }
        Ok(rec) => {
            show(
                out,
                &moddir::absolute(path).to_string_lossy(),
                None,
                &rec.info_with_signature(),
            );
            true
        }
        Err(e) => {
            crate::errln!("modinfo: ERROR: {e}");
            false
        }
    }
}

fn by_name(out: &mut Out, dir: Option<&ModuleDir>, given: &str, modname_only: bool) -> bool {
    let not_found = |what: String| {
        crate::errln!("modinfo: ERROR: {what}");
        false
    };
    let missing = || {
        if modname_only {
            format!("Module name {given} not found.")
        } else {
            format!("Module {given} not found.")
        }
    };
    let Some(dir) = dir else {
        return not_found(missing());
    };
    let targets = match modinfo_targets(dir, given, modname_only) {
        Ok(t) if t.is_empty() => return not_found(missing()),
        Ok(t) => t,
        Err(_) if modname_only => return not_found(missing()),
        Err(_) => return not_found(format!("Module alias {given} not found.")),
    };
    let mut ok = true;
    for t in targets {
        match t {
            InfoTarget::File(path) => ok &= by_path(out, &path),
            InfoTarget::Builtin { name, modinfo } => show(out, "(builtin)", Some(&name), &modinfo),
        }
    }
    ok
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
