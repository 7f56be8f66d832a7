//! `rprobe why MODULE [--in NAME...]`: why a module is part of the closure of some requests
//! (or, without --in, of what the running system uses), as the chain of edges leading to it,
//! each with its reason.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use rprobe_index::index::ModuleDir;
use rprobe_resolve::explain::{self, AliasSource, Edge, EdgeKind, Explainer};
use rprobe_resolve::{Config, Resolver};

/// Options of `rprobe why`.
#[derive(Parser, Debug)]
#[command(name = "why", disable_version_flag = true)]
struct Args {
    /// A request whose closure to explain (module name, alias or symbol:NAME; repeatable).
    /// Without it: the loaded modules (/proc/modules) and the devices' modaliases (/sys).
    #[arg(long = "in", value_name = "NAME")]
    within: Vec<String>,
    /// Configuration file or directory (repeatable; default: kmod's directories).
    #[arg(short = 'C', long = "config")]
    config: Vec<PathBuf>,
    /// Root directory for /lib/modules.
    #[arg(short = 'd', long = "dirname")]
    dirname: Option<String>,
    /// Kernel version (default: the running one).
    #[arg(short = 'S', long = "set-version")]
    set_version: Option<String>,
    /// The module to explain.
    module: String,
}

/// The module directory and configuration `-d`, `-S` and `-C` name, as modprobe opens
/// them (the kernel command line is not read).
pub(crate) fn open(
    dirname: Option<&str>,
    version: Option<&str>,
    config: &[PathBuf],
    tool: &str,
) -> Result<(ModuleDir, Config), i32> {
    let d = rprobe_index::moddir::tool_module_dir(dirname, version);
    let dir = match ModuleDir::open(std::path::Path::new(&d)) {
        Ok(x) => x,
        Err(e) => {
            crate::errln!("{tool}: ERROR: {e}");
            return Err(1);
        }
    };
    let paths = (!config.is_empty()).then_some(config);
    let cfg = Config::load(paths, Some(std::path::Path::new(&d)), None);
    Ok((dir, cfg))
}

/// How many symbols an explanation names before "and N more".
const SHOWN_SYMBOLS: usize = 3;

/// An edge's reason in words.
pub(crate) fn describe(e: &Edge) -> String {
    let origin = |o: &Option<rprobe_resolve::config::Origin>| match o {
        Some(o) if o.file.ends_with("modules.softdep") => {
            format!("{o}, written by depmod from {}'s modinfo", e.from)
        }
        Some(o) => o.to_string(),
        None => "origin unknown".into(),
    };
    match &e.kind {
        EdgeKind::Symbols(s) => {
            let mut t = format!(
                "uses {}",
                s.iter()
                    .take(SHOWN_SYMBOLS)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if s.len() > SHOWN_SYMBOLS {
                t.push_str(&format!(" and {} more symbols", s.len() - SHOWN_SYMBOLS));
            }
            format!("{t} exported by {}", e.to)
        }
        EdgeKind::Dependency => {
            "listed in modules.dep (module file unreadable: symbols unknown)".into()
        }
        EdgeKind::SoftdepPre(o) => format!("soft pre-dependency ({})", origin(o)),
        EdgeKind::SoftdepPost(o) => format!("soft post-dependency ({})", origin(o)),
        EdgeKind::Weakdep(o) => format!("weak dependency ({})", origin(o)),
        EdgeKind::Alias { pattern, source } => {
            let from = match source {
                AliasSource::Config(Some(o)) => format!("alias in {o}"),
                AliasSource::Config(None) => "configured alias".into(),
                AliasSource::ModulesAlias => "modules.alias".into(),
                AliasSource::Symbol => "modules.symbols".into(),
                AliasSource::BuiltinAlias => "modules.builtin.alias.bin".into(),
            };
            format!("alias matching '{pattern}' ({from})")
        }
    }
}

fn print_chain(chain: &[&Edge]) {
    for e in chain {
        crate::outln!(
            std::io::stdout(),
            "  {} -> {}: {}",
            e.from,
            e.to,
            describe(e)
        );
    }
}

/// Runs `rprobe why`; returns the exit code (1 when nothing needs the module).
pub fn main(raw: Vec<OsString>) -> i32 {
    let args: Args = match crate::parse_args("why", &raw, 2) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (dir, cfg) = match open(
        args.dirname.as_deref(),
        args.set_version.as_deref(),
        &args.config,
        "why",
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let r = Resolver {
        dir: &dir,
        config: &cfg,
    };
    let Some(target) = rprobe_index::name::alias_normalize(&args.module) else {
        crate::errln!("why: ERROR: invalid module name '{}'", args.module);
        return 2;
    };
    let mut x = Explainer::new(&r);
    // (root node, how to introduce it)
    let mut roots: Vec<(String, String)> = Vec::new();
    if args.within.is_empty() {
        let env = |k: &str, d: &str| PathBuf::from(std::env::var_os(k).unwrap_or_else(|| d.into()));
        let sys = explain::system_roots(
            &env("RPROBE_PROC_MODULES", "/proc/modules"),
            &env("RPROBE_SYSFS", "/sys"),
        );
        if sys.loaded.contains(&target) {
            crate::outln!(std::io::stdout(), "{target} is loaded");
        }
        for m in sys.loaded.iter().filter(|m| **m != target) {
            if let Ok(Some(n)) = x.add_request(m) {
                roots.push((n, format!("loaded module {m}")));
            }
        }
        for (a, dev) in &sys.modaliases {
            if let Ok(Some(n)) = x.add_request(a) {
                roots.push((n, format!("device {} (modalias {a})", dev.display())));
            }
        }
    } else {
        for n in &args.within {
            match x.add_request(n) {
                Ok(Some(node)) => roots.push((node, n.clone())),
                Ok(None) => crate::errln!("why: WARNING: {n}: no module found"),
                Err(e) => crate::errln!("why: ERROR: {n}: {e}"),
            }
        }
    }
    let g = x.finish();
    let mut found = false;
    for (node, what) in &roots {
        let Some(chain) = g.chain(node, &target) else {
            continue;
        };
        found = true;
        if chain.is_empty() {
            crate::outln!(std::io::stdout(), "{target} is requested ({what})");
        } else {
            crate::outln!(std::io::stdout(), "{what} needs {target}:");
            print_chain(&chain);
        }
    }
    if !found {
        let within = if args.within.is_empty() {
            "anything loaded or any device on this system".to_string()
        } else {
            args.within.join(", ")
        };
        crate::outln!(std::io::stdout(), "{target} is not needed by {within}");
        return 1;
    }
    0
}

/// The clap definition of this tool, for man pages and completions.
#[allow(dead_code)] // generate.rs lists its commands explicitly; see docs/json.md
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
