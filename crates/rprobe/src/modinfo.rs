//! `modinfo`: print what a module file says about itself, in kmod's format.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;
use rprobe_index::index::ModuleDir;
use rprobe_index::record::{self, ModuleRecord, ReadOptions};

/// kmod-compatible modinfo options.
#[derive(Parser, Debug)]
#[command(name = "modinfo", disable_version_flag = true)]
struct Args {
    /// Print only 'author'.
    #[arg(short = 'a', long = "author")]
    author: bool,
    /// Print only 'description'.
    #[arg(short = 'd', long = "description")]
    description: bool,
    /// Print only 'license'.
    #[arg(short = 'l', long = "license")]
    license: bool,
    /// Print only 'parm'.
    #[arg(short = 'p', long = "parameters")]
    parameters: bool,
    /// Print only 'filename'.
    #[arg(short = 'n', long = "filename")]
    filename: bool,
    /// Use \0 instead of \n.
    #[arg(short = '0', long = "null")]
    null: bool,
    /// Handle arguments as module names instead of aliases or file names.
    #[arg(short = 'm', long = "modname")]
    modname: bool,
    /// Print only this field.
    #[arg(short = 'F', long = "field")]
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
    /// Modules: names, aliases or files.
    modules: Vec<String>,
}

/// The last option given among -a -d -l -p -n -F wins, as with getopt.
fn field_of(args: &Args, raw: &[OsString]) -> Option<String> {
    let mut field = None;
    let mut it = raw.iter().skip(1).map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let set = |f: &str| Some(f.to_string());
        match a.as_str() {
            "--author" => field = set("author"),
            "--description" => field = set("description"),
            "--license" => field = set("license"),
            "--parameters" => field = set("parm"),
            "--filename" => field = set("filename"),
            "--field" => field = it.next(),
            s if s.starts_with("--field=") => field = Some(s["--field=".len()..].to_string()),
            s if s.starts_with('-') && !s.starts_with("--") => {
                let cs: Vec<char> = s[1..].chars().collect();
                for (i, c) in cs.iter().enumerate() {
                    match c {
                        'a' => field = set("author"),
                        'd' => field = set("description"),
                        'l' => field = set("license"),
                        'p' => field = set("parm"),
                        'n' => field = set("filename"),
                        'F' => {
                            let rest: String = cs[i + 1..].iter().collect();
                            field = if rest.is_empty() {
                                it.next()
                            } else {
                                Some(rest)
                            };
                            break;
                        }
                        'k' | 'b' => {
                            if i + 1 == cs.len() {
                                it.next();
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let _ = args;
    field
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
            eprintln!("modinfo: ERROR: Found invalid \"{k}={v}\": missing ':'");
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

/// A hex string as kmod prints key ids and signatures: `XX:XX:...`, a line break and two
/// tabs after every 20 bytes.
fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        s.push_str(&format!("{x:02X}"));
        if i + 1 < b.len() {
            s.push(':');
            if (i + 1) % 20 == 0 {
                s.push_str("\n\t\t");
            }
        }
    }
    s
}

fn info_of(rec: &ModuleRecord) -> Vec<(String, String)> {
    let mut info = rec.modinfo.clone();
    if let Some(sig) = &rec.signature {
        info.push(("sig_id".into(), sig.id_type.clone()));
        info.push((
            "signer".into(),
            String::from_utf8_lossy(&sig.signer).into_owned(),
        ));
        info.push(("sig_key".into(), hex(&sig.key_id)));
        info.push(("sig_hashalgo".into(), sig.hash_algo.clone()));
        info.push(("signature".into(), hex(&sig.signature)));
    }
    info
}

fn kernel_release() -> String {
    nix_uname().unwrap_or_default()
}

fn nix_uname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Runs modinfo with `args` (argv[0] first); returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    let args: Args = match crate::parse_args("modinfo", &raw, 1) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.show_version {
        println!("rprobe modinfo version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if args.modules.is_empty() {
        eprintln!("modinfo: ERROR: missing module or filename.");
        return 1;
    }
    let _ = (
        args.author,
        args.description,
        args.license,
        args.parameters,
        args.filename,
    );
    let mut out = Out {
        sep: if args.null { 0 } else { b'\n' },
        field: field_of(&args, &raw),
        buf: Vec::new(),
    };
    let root = args
        .basedir
        .clone()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let release = args.version.clone().unwrap_or_else(kernel_release);
    let dirname = PathBuf::from(crate::modprobe::absolute(&format!(
        "{root}/lib/modules/{release}"
    )));
    let dir = ModuleDir::open(&dirname).ok();
    let mut failed = false;
    let stdout = std::io::stdout();
    for m in &args.modules {
        let ok = if !args.modname && is_module_file(m) {
            by_path(&mut out, Path::new(m))
        } else {
            by_name(&mut out, dir.as_ref(), m, args.modname)
        };
        failed |= !ok;
        let mut lock = stdout.lock();
        let _ = lock.write_all(&out.buf);
        let _ = lock.flush();
        out.buf.clear();
    }
    i32::from(failed)
}

fn is_module_file(name: &str) -> bool {
    std::fs::metadata(name).is_ok_and(|m| m.is_file()) && record::is_module_filename(name)
}

fn by_path(out: &mut Out, path: &Path) -> bool {
    match record::read_module_with(
        path,
        ReadOptions {
            symbols: false,
            signature: true,
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
                    .extend_from_slice(absolute(path).to_string_lossy().as_bytes());
                o.buf.push(out.sep);
            } else if out.field.as_deref() == Some("filename") {
                show(out, &absolute(path).to_string_lossy(), None, &[]);
                return true;
            }
            out.buf.extend_from_slice(&o.buf);
            eprintln!(
                "modinfo: ERROR: could not get modinfo from '{}': {}: no .modinfo section",
                rec.name,
                path.display()
            );
            false
        }
        Ok(rec) => {
            show(out, &absolute(path).to_string_lossy(), None, &info_of(&rec));
            true
        }
        Err(e) => {
            eprintln!("modinfo: ERROR: {e}");
            false
        }
    }
}

/// The path as kmod prints it: relative paths joined to the working directory, unresolved.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

fn by_name(out: &mut Out, dir: Option<&ModuleDir>, given: &str, modname_only: bool) -> bool {
    let not_found = |what: &str| {
        eprintln!("modinfo: ERROR: {what}");
        false
    };
    let Some(dir) = dir else {
        return if modname_only {
            not_found(&format!("Module name {given} not found."))
        } else {
            not_found(&format!("Module {given} not found."))
        };
    };
    let name = normalize_alias(given);
    // As kmod: the module name in modules.dep, then (not with -m) symbols, aliases and
    // built-in modules.
    let mut targets: Vec<String> = Vec::new();
    if !name.contains(':') {
        if let Ok(Some(_)) = dir.dep(&name) {
            targets.push(name.clone());
        }
    }
    if targets.is_empty() && !modname_only {
        for f in [ModuleDir::symbol, ModuleDir::alias] {
            if targets.is_empty() {
                targets = f(dir, &name).unwrap_or_default();
            }
        }
    }
    if targets.is_empty() && dir.builtin(&name).unwrap_or(false) {
        targets.push(name.clone());
    }
    if targets.is_empty() && !modname_only {
        targets = dir.builtin_alias(&name).unwrap_or_default();
    }
    if targets.is_empty() {
        return if modname_only {
            not_found(&format!("Module name {given} not found."))
        } else {
            not_found(&format!("Module {given} not found."))
        };
    }
    let mut ok = true;
    for t in targets {
        match dir.dep(&t) {
            Ok(Some(e)) => {
                let path = dir.full_path(&e.path);
                ok &= by_path(out, &path);
            }
            _ => {
                let info = dir.builtin_modinfo(&t).ok().flatten();
                show(out, "(builtin)", Some(&t), &info.unwrap_or_default());
            }
        }
    }
    ok
}

/// kmod's alias normalisation: '-' becomes '_' outside bracket expressions.
fn normalize_alias(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_bracket = false;
    for c in s.chars() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            '-' if !in_bracket => {
                out.push('_');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_wraps_every_20_bytes() {
        let b: Vec<u8> = (0..21).collect();
        let h = hex(&b);
        assert!(h.starts_with("00:01:"));
        assert!(h.contains("13:\n\t\t14"));
        assert!(!h.ends_with(':'));
    }

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
