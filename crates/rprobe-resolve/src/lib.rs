//! rprobe-resolve: what a modprobe command means. Looks names up the way kmod does
//! (configuration aliases, modules.dep, symbols, install commands, modules.alias, built-in
//! modules), applies modprobe.d and the kernel command line, and turns a request into an
//! ordered plan: soft dependencies before and after, hard dependencies in modules.dep
//! order, install commands, options.
//!
//! ```
//! use rprobe_resolve::config::Config;
//! let mut c = Config::default();
//! c.parse("options dummy numdummies=3\n", "x.conf");
//! assert_eq!(c.options_for("dummy", None).as_deref(), Some("numdummies=3"));
//! ```

pub mod config;
pub mod explain;
pub mod modinfo;
pub mod probe_order;

use std::collections::HashSet;
use std::path::PathBuf;

use petgraph::graph::DiGraph;
use rprobe_index::index::ModuleDir;

pub use config::Config;

/// The one error type of rprobe-resolve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An index could not be read.
    #[error(transparent)]
    Index(#[from] rprobe_index::Error),
    /// Hard dependencies that loop.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A name that cannot be an alias (an unmatched bracket).
    #[error("invalid alias: {0}")]
    BadAlias(String),
}

/// Result with rprobe-resolve's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A module as a lookup found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The module name ('_' form).
    pub name: String,
    /// The name it was looked up by, when that was an alias.
    pub alias: Option<String>,
    /// Its file, absolute, when modules.dep lists it.
    pub path: Option<PathBuf>,
    /// Built into the kernel.
    pub builtin: bool,
    /// An install command found it (kmod's "commands" lookup).
    pub install_only: bool,
}

/// One step of a load plan, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The module.
    pub module: Module,
    /// Options from the configuration, plus the command line's for the requested module.
    pub options: String,
    /// The install command to run instead of loading, if any (as configured: run it with
    /// [`Step::install_command`]).
    pub install: Option<String>,
    /// A hard dependency of the request (errors stop the plan) rather than a soft one.
    pub required: bool,
    /// Why the step is in the plan.
    pub via: Via,
}

/// Why a step is in a plan: the edge that brought it in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// The module asked for.
    Requested,
    /// Listed in modules.dep for the named module (a hard dependency, maybe indirect).
    Dependency(String),
    /// A soft pre-dependency (`softdep NAME pre:`) of the named module.
    SoftdepPre(String),
    /// A soft post-dependency (`softdep NAME post:`) of the named module.
    SoftdepPost(String),
}

impl Step {
    /// The install command with $CMDLINE_OPTS replaced by the options, as it is run.
    pub fn install_command(&self) -> Option<String> {
        self.install
            .as_ref()
            .map(|c| c.replace("$CMDLINE_OPTS", &self.options))
    }
}

/// The modules a plan has visited, by (name, alias): kmod marks module objects, and a
/// module found through an alias is another object than the same module found by name.
/// A plan visits a handful of modules, so a list beats hashing.
#[derive(Default)]
struct Visited(Vec<(String, Option<String>)>);

impl Visited {
    /// Marks `m`; false when it was marked already.
    fn insert(&mut self, m: &Module) -> bool {
        let seen = self
            .0
            .iter()
            .any(|(n, a)| *n == m.name && a.as_deref() == m.alias.as_deref());
        if !seen {
            self.0.push((m.name.clone(), m.alias.clone()));
        }
        !seen
    }
}

/// A small set of module names (a plan's required modules).
#[derive(Default)]
struct Names(Vec<String>);

impl Names {
    fn insert(&mut self, name: String) {
        if !self.contains(&name) {
            self.0.push(name);
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }
}

/// The tools' probe walk: modules as values, marked by (name, alias), required by name.
struct Values<'a, 'r> {
    resolver: &'a Resolver<'r>,
    visited: Visited,
    required: Names,
}

impl probe_order::ProbeGraph for Values<'_, '_> {
    type Node = Module;
    type Error = Error;

    fn visit(&mut self, node: &Module) -> bool {
        self.visited.insert(node)
    }

    fn require(&mut self, node: &Module) {
        self.required.insert(node.name.clone());
    }

    fn dependencies(&mut self, node: &Module) -> Result<Vec<Module>> {
        self.resolver.dependencies(node)
    }

    fn softdeps(&mut self, node: &Module) -> Result<(Vec<Module>, Vec<Module>)> {
        self.resolver.softdeps(&node.name)
    }

    fn name(&self, node: &Module) -> String {
        node.name.clone()
    }
}

/// The resolver: indexes and configuration.
pub struct Resolver<'a> {
    /// The module directory's indexes.
    pub dir: &'a ModuleDir,
    /// The configuration.
    pub config: &'a Config,
}

impl Resolver<'_> {
    fn module(&self, name: &str, alias: Option<&str>, builtin: bool) -> Result<Module> {
        let path = self.dir.dep_info(name)?.map(|e| e.path.clone());
        let builtin = builtin || (path.is_none() && self.dir.builtin(name)?);
        Ok(Module {
            name: name.to_string(),
            alias: alias.map(str::to_string),
            path,
            builtin,
            install_only: false,
        })
    }

    /// The module in the file `given`, as kmod 34's modprobe takes an argument that starts
    /// with `/` or `./` (kmod_module_new_from_path): any file that exists, named after its
    /// file name, its path made absolute against the working directory as written (no
    /// `.` removed, no link followed). Its dependencies still come from the indexes, by
    /// that name. The error is the file's, for kmod's "Failed to get module from path".
    pub fn module_from_path(&self, given: &str) -> std::io::Result<Module> {
        let p = std::path::Path::new(given);
        rprobe_index::fsx::stat(p)?;
        Ok(Module {
            name: rprobe_index::name::modname_from_path(p),
            alias: None,
            path: Some(rprobe_index::moddir::absolute(p)),
            builtin: false,
            install_only: false,
        })
    }

    /// Looks a name, alias, `symbol:NAME` or path up as kmod's modprobe does. Empty when
    /// nothing matches.
    pub fn lookup(&self, given: &str) -> Result<Vec<Module>> {
        // A module file given by path (absolute or relative), as upstream kmod accepts.
        let p = std::path::Path::new(given);
        if given.as_bytes().contains(&b'/')
            && rprobe_index::name::is_module_filename(given)
            && rprobe_index::fsx::stat(p).is_ok_and(|s| s.is_file())
        {
            let name = rprobe_index::name::modname_from_path(p);
            let path = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            return Ok(vec![Module {
                name,
                alias: None,
                path: Some(path),
                builtin: false,
                install_only: false,
            }]);
        }
        self.lookup_name(given)
    }

    /// [`Resolver::lookup`] without its paths: `given` is a name, alias or `symbol:NAME`
    /// even when it holds a '/', as kmod 34's modprobe looks up what does not start with
    /// `/` or `./` (see [`Resolver::module_from_path`]).
    pub fn lookup_name(&self, given: &str) -> Result<Vec<Module>> {
        let Some(name) = rprobe_index::name::alias_normalize(given) else {
            return Ok(Vec::new());
        };
        // Configuration aliases.
        let mut out = Vec::new();
        for (pat, target) in &self.config.aliases {
            if config::fnmatch(pat, &name) {
                out.push(self.module(target, Some(&name), false)?);
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        if !name.contains(':') {
            if let Some(e) = self.dir.dep_info(&name)? {
                return Ok(vec![Module {
                    path: Some(e.path.clone()),
                    name: name.into_owned(),
                    alias: None,
                    builtin: false,
                    install_only: false,
                }]);
            }
        }
        if name.starts_with("symbol:") {
            for m in self.dir.symbol(&name)? {
                out.push(self.module(&m, Some(&name), false)?);
            }
            if !out.is_empty() {
                return Ok(out);
            }
        }
        if self.config.install.iter().any(|(m, _)| *m == name) {
            let mut m = self.module(&name, None, false)?;
            m.install_only = true;
            return Ok(vec![m]);
        }
        for m in self.dir.alias(&name)? {
            out.push(self.module(&m, Some(&name), false)?);
        }
        if !out.is_empty() {
            return Ok(out);
        }
        if self.dir.builtin(&name)? {
            return Ok(vec![self.module(&name, None, true)?]);
        }
        for m in self.dir.builtin_alias(&name)? {
            out.push(self.module(&m, Some(&name), true)?);
        }
        Ok(out)
    }

    /// The modules a module needs, in load order (modules.dep's order reversed, as kmod).
    pub fn dependencies(&self, m: &Module) -> Result<Vec<Module>> {
        let Some(e) = self.dir.dep_info(&m.name)? else {
            return Ok(Vec::new());
        };
        // kmod builds the list by prepending each modules.dep entry: reverse order, which is
        // load order (modules.dep lists users before what they use).
        Ok(e.deps
            .iter()
            .rev()
            .map(|(name, path)| Module {
                name: name.clone(),
                alias: None,
                path: Some(path.clone()),
                builtin: false,
                install_only: false,
            })
            .collect())
    }

    /// The soft pre- and post-dependencies configured for a module, looked up.
    pub fn softdeps(&self, name: &str) -> Result<(Vec<Module>, Vec<Module>)> {
        let Some(sd) = self.config.softdep_for(name) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut pre = Vec::new();
        for n in &sd.pre {
            pre.extend(self.lookup(n)?);
        }
        let mut post = Vec::new();
        for n in &sd.post {
            post.extend(self.lookup(n)?);
        }
        Ok((pre, post))
    }

    /// The ordered load plan for one looked-up module, as kmod builds it: for each hard
    /// dependency (modules.dep order) its soft pre-dependencies, itself, its soft
    /// post-dependencies; then the same for the module. A module is visited once, which is
    /// how loops through softdeps end. `ignore_commands` (-i) drops install commands and
    /// softdeps of the requested module.
    pub fn plan(
        &self,
        m: &Module,
        extra_options: &str,
        ignore_commands: bool,
    ) -> Result<Vec<Step>> {
        // A hard-dependency loop is an error naming its modules (kmod would silently stop
        // at the first revisit). modules.dep lists are transitive closures, so a loop shows
        // up as the module among its own dependencies.
        if let Some(e) = self.dir.dep_info(&m.name)? {
            if e.needs_itself {
                self.dependency_graph(m)?;
                return Err(Error::Cycle(vec![m.name.clone()]));
            }
        }
        let mut graph = Values {
            resolver: self,
            visited: Visited::default(),
            required: Names::default(),
        };
        let list = probe_order::probe_list(&mut graph, m, ignore_commands)?;
        let required = graph.required;
        let mut steps = Vec::new();
        for probe_order::Entry {
            node: x,
            ignorecmd,
            via,
        } in list
        {
            // kmod joins configured options and the command line's with a space, even when
            // the latter are empty.
            let extra = if x.name == m.name { extra_options } else { "" };
            let options = match self.config.options_for(&x.name, x.alias.as_deref()) {
                Some(o) => format!("{o} {extra}"),
                None => extra.to_string(),
            };
            let install = if ignorecmd {
                None
            } else {
                self.config.install_for(&x.name).map(str::to_string)
            };
            steps.push(Step {
                required: required.contains(&x.name),
                module: x,
                options,
                install,
                via,
            });
        }
        Ok(steps)
    }

    /// Every module a set of requests needs (hard, soft pre/post and weak dependencies),
    /// blacklisted modules left out, without duplicates, in load order: the closure an
    /// initramfs needs.
    pub fn closure(&self, names: &[String]) -> Result<Vec<Module>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for n in names {
            for m in self.lookup(n)? {
                for s in self.plan(&m, "", false)? {
                    let wd = self.config.weakdeps_for(&s.module.name).to_vec();
                    if !self.config.is_blacklisted(&s.module.name)
                        && seen.insert(s.module.name.clone())
                    {
                        out.push(s.module.clone());
                    }
                    for w in wd {
                        for wm in self.lookup(&w)? {
                            for ws in self.plan(&wm, "", false)? {
                                if seen.insert(ws.module.name.clone()) {
                                    out.push(ws.module);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The hard-dependency graph of a module (edges from a module to what it needs);
    /// an error naming the modules when it has a cycle.
    pub fn dependency_graph(&self, m: &Module) -> Result<DiGraph<String, ()>> {
        let mut g = DiGraph::new();
        let mut idx = std::collections::HashMap::new();
        let mut todo = vec![m.clone()];
        while let Some(x) = todo.pop() {
            if idx.contains_key(&x.name) {
                continue;
            }
            let n = g.add_node(x.name.clone());
            idx.insert(x.name.clone(), n);
            for d in self.dependencies(&x)? {
                todo.push(d);
            }
        }
        let names: Vec<String> = idx.keys().cloned().collect();
        for name in names {
            let x = self.module(&name, None, false)?;
            for d in self.dependencies(&x)? {
                if let (Some(&a), Some(&b)) = (idx.get(&name), idx.get(&d.name)) {
                    g.add_edge(a, b, ());
                }
            }
        }
        if let Err(c) = petgraph::algo::toposort(&g, None) {
            let start = c.node_id();
            let mut cyc = vec![g[start].clone()];
            for scc in petgraph::algo::kosaraju_scc(&g) {
                if scc.contains(&start) {
                    cyc = scc.iter().map(|&n| g[n].clone()).collect();
                }
            }
            return Err(Error::Cycle(cyc));
        }
        Ok(g)
    }
}
