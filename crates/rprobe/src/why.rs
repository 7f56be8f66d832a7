//! `rprobe why MODULE [--in NAME...]`: why a module is part of the closure of some requests
//! (or, without --in, of what the running system uses), as the chain of edges leading to it,
//! each with its reason.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use rprobe_context::Context;
use rprobe_resolve::explain::{AliasSource, Edge, EdgeKind, Explainer};

/// What `rprobe why` does, in one line (its page's NAME line and rprobe(8)'s list).
pub(crate) const ABOUT: &str =
    "Show why a module is needed: the chain of requests, dependencies and aliases leading to it";

/// Options of `rprobe why`.
#[derive(Parser, Debug)]
#[command(name = "why", about = ABOUT, disable_version_flag = true)]
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
    /// Print one JSON object instead of text (schema: docs/json.md).
    #[arg(long = "json")]
    json: bool,
    /// The module to explain.
    module: String,
}

/// The library context `-d`, `-S` and `-C` name, as modprobe opens it (the kernel
/// command line is not read); an error message and status 1 when the module directory
/// cannot be opened.
pub(crate) fn open(
    dirname: Option<&str>,
    version: Option<&str>,
    config: &[PathBuf],
    tool: &str,
) -> Result<Context, i32> {
    let mut options = rprobe_context::Options::new(crate::generation(), dirname, version);
    options.config_paths = (!config.is_empty()).then(|| config.to_vec());
    options.cmdline = rprobe_context::Cmdline::None;
    Context::open(options).map_err(|e| {
        crate::errln!("{tool}: ERROR: {e}");
        1
    })
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
    let ctx = match open(
        args.dirname.as_deref(),
        args.set_version.as_deref(),
        &args.config,
        "why",
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let r = ctx.resolver();
    let Some(target) =
        rprobe_index::name::alias_normalize(&args.module).map(std::borrow::Cow::into_owned)
    else {
        crate::out::log(
            "why",
            rprobe_index::log::Level::Error,
            format_args!("invalid module name '{}'", args.module),
        );
        return 2;
    };
    let mut x = Explainer::new(&r);
    // (root node, how to introduce it, its JSON form)
    let mut roots: Vec<(String, String, json::RootJson)> = Vec::new();
    let mut loaded = None;
    if args.within.is_empty() {
        let host = ctx.host();
        let loaded_now = host.loaded_modules().unwrap_or_default();
        loaded = Some(loaded_now.contains(&target));
        if loaded == Some(true) && !args.json {
            crate::outln!(std::io::stdout(), "{target} is loaded");
        }
        for m in loaded_now.iter().filter(|m| **m != target) {
            if let Ok(Some(n)) = x.add_request(m) {
                let j = json::RootJson::new(m, "loaded", None);
                roots.push((n, format!("loaded module {m}"), j));
            }
        }
        for (a, dev) in &host.modalias_files() {
            if let Ok(Some(n)) = x.add_request(a) {
                let d = dev.to_string_lossy().into_owned();
                let j = json::RootJson::new(a, "device", Some(d));
                roots.push((n, format!("device {} (modalias {a})", dev.display()), j));
            }
        }
    } else {
        for n in &args.within {
            match x.add_request(n) {
                Ok(Some(node)) => {
                    let j = json::RootJson::new(n, "requested", None);
                    roots.push((node, n.clone(), j));
                }
                Ok(None) => crate::out::log(
                    "why",
                    rprobe_index::log::Level::Warning,
                    format_args!("{n}: no module found"),
                ),
                Err(e) => crate::out::log(
                    "why",
                    rprobe_index::log::Level::Error,
                    format_args!("{n}: {e}"),
                ),
            }
        }
    }
    let g = x.finish();
    let mut found = false;
    let mut needed_by = Vec::new();
    for (node, what, mut j) in roots {
        let Some(chain) = g.chain(&node, &target) else {
            continue;
        };
        found = true;
        if args.json {
            j.chain = chain.iter().map(|e| json::EdgeJson::from(*e)).collect();
            needed_by.push(j);
        } else if chain.is_empty() {
            crate::outln!(std::io::stdout(), "{target} is requested ({what})");
        } else {
            crate::outln!(std::io::stdout(), "{what} needs {target}:");
            print_chain(&chain);
        }
    }
    if args.json {
        crate::json::print(&json::WhyJson {
            module: target,
            loaded,
            needed_by,
        });
        return i32::from(!found);
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
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// The JSON form of `rprobe why` (docs/json.md).
mod json {
    use rprobe_resolve::explain::{AliasSource, Edge, EdgeKind};
    use serde::Serialize;

    /// The whole answer.
    #[derive(Serialize, Debug)]
    pub struct WhyJson {
        /// The module explained.
        pub module: String,
        /// Without --in: whether it is loaded; with --in: null.
        pub loaded: Option<bool>,
        /// Each request (or loaded module, or device) whose closure holds it.
        pub needed_by: Vec<RootJson>,
    }

    /// One request and its chain to the module.
    #[derive(Serialize, Debug)]
    pub struct RootJson {
        /// The name as given (or the loaded module, or the device's modalias).
        pub name: String,
        /// "requested", "loaded" or "device".
        pub kind: &'static str,
        /// For a device: its directory under /sys.
        pub device: Option<String>,
        /// The edges from the request to the module (empty when it is the request).
        pub chain: Vec<EdgeJson>,
    }

    impl RootJson {
        /// A root with no chain yet.
        pub fn new(name: &str, kind: &'static str, device: Option<String>) -> Self {
            RootJson {
                name: name.to_string(),
                kind,
                device,
                chain: Vec::new(),
            }
        }
    }

    /// One edge of a chain.
    #[derive(Serialize, Debug)]
    pub struct EdgeJson {
        /// The node that needs the next one.
        pub from: String,
        /// The node it needs.
        pub to: String,
        /// alias, symbols, dependency, softdep-pre, softdep-post or weakdep.
        pub kind: &'static str,
        /// For symbols: every symbol, sorted.
        pub symbols: Vec<String>,
        /// For an alias: the pattern matched.
        pub pattern: Option<String>,
        /// For an alias: config, modules.alias, modules.symbols or builtin.
        pub source: Option<&'static str>,
        /// The configuration file of a softdep, weakdep or configured alias.
        pub file: Option<String>,
        /// Its line.
        pub line: Option<usize>,
    }

    impl From<&Edge> for EdgeJson {
        fn from(e: &Edge) -> Self {
            let mut j = EdgeJson {
                from: e.from.clone(),
                to: e.to.clone(),
                kind: e.kind.name(),
                symbols: Vec::new(),
                pattern: None,
                source: None,
                file: None,
                line: None,
            };
            let origin = match &e.kind {
                EdgeKind::Symbols(s) => {
                    j.symbols = s.clone();
                    None
                }
                EdgeKind::Dependency => None,
                EdgeKind::SoftdepPre(o) | EdgeKind::SoftdepPost(o) | EdgeKind::Weakdep(o) => {
                    o.as_ref()
                }
                EdgeKind::Alias { pattern, source } => {
                    j.pattern = Some(pattern.clone());
                    let (name, o) = match source {
                        AliasSource::Config(o) => ("config", o.as_ref()),
                        AliasSource::ModulesAlias => ("modules.alias", None),
                        AliasSource::Symbol => ("modules.symbols", None),
                        AliasSource::BuiltinAlias => ("builtin", None),
                    };
                    j.source = Some(name);
                    o
                }
            };
            if let Some(o) = origin {
                j.file = Some(o.file.clone());
                j.line = Some(o.line);
            }
            j
        }
    }
}
