//! Explanations: the closure of some requests as a graph whose edges say why each module is
//! in it (symbols a module uses from another, soft pre/post-dependencies and weak
//! dependencies with the configuration file and line they came from, aliases with the
//! pattern they matched), and the chain of edges from a request to a module. `rprobe why`
//! and `rprobe graph` print these.
//!
//! Hard dependencies are direct here: an edge goes from a module to each module that
//! exports a symbol it needs (modules.symbols), named by those symbols. Their transitive
//! closure is modules.dep's line for the module; modules.dep alone cannot tell which
//! dependency is direct.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use rprobe_modfile::record::{read_module_with, ReadOptions};

use crate::config::{fnmatch, Origin};
use crate::{Module, Resolver, Result};

/// Where an alias came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AliasSource {
    /// An `alias` line of the configuration.
    Config(Option<Origin>),
    /// modules.alias (the module's own modinfo `alias=` entries, as depmod wrote them).
    ModulesAlias,
    /// modules.symbols: a `symbol:NAME` request and the module exporting NAME.
    Symbol,
    /// modules.builtin.alias.bin: an alias of a module built into the kernel.
    BuiltinAlias,
}

/// Why an edge exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// The name (a request, or a name in a softdep or weakdep line) is an alias matching
    /// `pattern`.
    Alias {
        /// The pattern it matched.
        pattern: String,
        /// Which file the pattern is in.
        source: AliasSource,
    },
    /// The source module needs symbols the target exports (sorted; all of them).
    Symbols(Vec<String>),
    /// modules.dep lists the target for the source, but the source's file could not be
    /// read to name the symbols (so the edge may be indirect).
    Dependency,
    /// A soft pre-dependency (`softdep SOURCE pre: TARGET`).
    SoftdepPre(Option<Origin>),
    /// A soft post-dependency (`softdep SOURCE post: TARGET`).
    SoftdepPost(Option<Origin>),
    /// A weak dependency (`weakdep SOURCE TARGET`).
    Weakdep(Option<Origin>),
}

impl EdgeKind {
    /// A short stable name for the kind: alias, symbols, dependency, softdep-pre,
    /// softdep-post, weakdep.
    pub fn name(&self) -> &'static str {
        match self {
            EdgeKind::Alias { .. } => "alias",
            EdgeKind::Symbols(_) => "symbols",
            EdgeKind::Dependency => "dependency",
            EdgeKind::SoftdepPre(_) => "softdep-pre",
            EdgeKind::SoftdepPost(_) => "softdep-post",
            EdgeKind::Weakdep(_) => "weakdep",
        }
    }
}

/// One edge of a closure graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The node that needs (or names) the target.
    pub from: String,
    /// The node it needs.
    pub to: String,
    /// Why.
    pub kind: EdgeKind,
}

/// A node of a closure graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A module.
    Module {
        /// Its name.
        name: String,
        /// Its file, when modules.dep lists it.
        path: Option<PathBuf>,
        /// Built into the kernel.
        builtin: bool,
    },
    /// A name that is an alias of one or more modules (normalised).
    Alias(String),
}

impl Node {
    /// The node's name.
    pub fn name(&self) -> &str {
        match self {
            Node::Module { name, .. } | Node::Alias(name) => name,
        }
    }
}

/// The closure of some requests: nodes in discovery order, and the edges between them.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The requests' nodes (a module name, or an alias node), in request order.
    pub roots: Vec<String>,
    /// Every node, in the order found.
    pub nodes: Vec<Node>,
    /// Every edge, in the order found.
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name() == name)
    }

    /// A shortest chain of edges from `from` to `to` (empty when they are the same node);
    /// None when `to` cannot be reached.
    pub fn chain(&self, from: &str, to: &str) -> Option<Vec<&Edge>> {
        if from == to {
            return Some(Vec::new());
        }
        let mut out: HashMap<&str, Vec<&Edge>> = HashMap::new();
        for e in &self.edges {
            out.entry(e.from.as_str()).or_default().push(e);
        }
        let mut prev: HashMap<&str, &Edge> = HashMap::new();
        let mut q = VecDeque::from([from]);
        let mut seen = HashSet::from([from]);
        while let Some(n) = q.pop_front() {
            for e in out.get(n).into_iter().flatten() {
                if seen.insert(e.to.as_str()) {
                    prev.insert(e.to.as_str(), e);
                    if e.to == to {
                        let mut chain = Vec::new();
                        let mut cur = to;
                        while let Some(e) = prev.get(cur) {
                            chain.push(*e);
                            cur = e.from.as_str();
                            if cur == from {
                                break;
                            }
                        }
                        chain.reverse();
                        return Some(chain);
                    }
                    q.push_back(e.to.as_str());
                }
            }
        }
        None
    }
}

/// Builds closure graphs over a resolver.
pub struct Explainer<'r, 'a> {
    r: &'r Resolver<'a>,
    graph: Graph,
    seen: HashSet<String>,
    modules_alias: Option<Vec<(String, String)>>,
}

impl<'r, 'a> Explainer<'r, 'a> {
    /// An explainer with an empty graph.
    pub fn new(r: &'r Resolver<'a>) -> Self {
        Explainer {
            r,
            graph: Graph::default(),
            seen: HashSet::new(),
            modules_alias: None,
        }
    }

    /// The graph built so far.
    pub fn finish(self) -> Graph {
        self.graph
    }

    /// Adds a request (a module name, alias, `symbol:NAME` or path) and everything it
    /// needs. Returns the request's node, or None when nothing matches it.
    pub fn add_request(&mut self, given: &str) -> Result<Option<String>> {
        let mods = self.r.lookup(given)?;
        if mods.is_empty() {
            return Ok(None);
        }
        let root = self.name_node(given, &mods, None)?;
        self.graph.roots.push(root.clone());
        Ok(Some(root))
    }

    /// The node for a name that found `mods`: the module itself, or an alias node with an
    /// edge to each module. `from` gets an edge of kind `kind` to that node.
    fn name_node(
        &mut self,
        given: &str,
        mods: &[Module],
        from: Option<(&str, EdgeKind)>,
    ) -> Result<String> {
        let alias = mods.iter().find_map(|m| m.alias.clone());
        let node = match &alias {
            Some(a) => a.clone(),
            None => mods
                .first()
                .map(|m| m.name.clone())
                .unwrap_or_else(|| given.to_string()),
        };
        if let Some((f, kind)) = from {
            self.push_edge(f, &node, kind);
        }
        if let Some(a) = &alias {
            if self.seen.insert(a.clone()) {
                self.graph.nodes.push(Node::Alias(a.clone()));
                for m in mods.iter().filter(|m| m.alias.is_some()) {
                    let kind = self.alias_kind(a, m)?;
                    self.push_edge(a, &m.name, kind);
                }
            }
        }
        for m in mods {
            self.add_module(m)?;
        }
        Ok(node)
    }

    fn push_edge(&mut self, from: &str, to: &str, kind: EdgeKind) {
        let e = Edge {
            from: from.to_string(),
            to: to.to_string(),
            kind,
        };
        if !self.graph.edges.contains(&e) {
            self.graph.edges.push(e);
        }
    }

    /// Why `alias` names `m`: the first pattern that matches it, from the configuration,
    /// modules.symbols, modules.alias or the built-in aliases, as the lookup found it.
    fn alias_kind(&mut self, alias: &str, m: &Module) -> Result<EdgeKind> {
        let cfg = self.r.config;
        if let Some((pat, _)) = cfg
            .aliases
            .iter()
            .find(|(p, t)| *t == m.name && fnmatch(p, alias))
        {
            return Ok(EdgeKind::Alias {
                pattern: pat.clone(),
                source: AliasSource::Config(cfg.origin("alias", pat).cloned()),
            });
        }
        if alias.starts_with("symbol:") {
            return Ok(EdgeKind::Alias {
                pattern: alias.to_string(),
                source: AliasSource::Symbol,
            });
        }
        if m.builtin {
            return Ok(EdgeKind::Alias {
                pattern: alias.to_string(),
                source: AliasSource::BuiltinAlias,
            });
        }
        let table = match &self.modules_alias {
            Some(t) => t,
            None => {
                let text =
                    std::fs::read(self.r.dir.dir().join("modules.alias")).unwrap_or_default();
                let t = String::from_utf8_lossy(&text)
                    .lines()
                    .filter_map(|l| {
                        let mut w = l.split_whitespace();
                        (w.next() == Some("alias")).then_some(())?;
                        Some((w.next()?.to_string(), w.next()?.to_string()))
                    })
                    .collect();
                self.modules_alias.insert(t)
            }
        };
        // depmod stores patterns normalised ('-' to '_' outside brackets) in the .bin the
        // lookup used; the text file keeps them as the module wrote them.
        let pattern = table
            .iter()
            .find(|(p, t)| {
                *t == m.name
                    && rprobe_index::name::alias_normalize(p).is_some_and(|n| fnmatch(&n, alias))
            })
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| alias.to_string());
        Ok(EdgeKind::Alias {
            pattern,
            source: AliasSource::ModulesAlias,
        })
    }

    /// Adds a module and, once, everything it needs.
    fn add_module(&mut self, m: &Module) -> Result<()> {
        if !self.seen.insert(m.name.clone()) {
            return Ok(());
        }
        self.graph.nodes.push(Node::Module {
            name: m.name.clone(),
            path: m.path.clone(),
            builtin: m.builtin,
        });
        for (dep, kind) in self.hard_deps(m)? {
            self.push_edge(&m.name, &dep.name, kind);
            self.add_module(&dep)?;
        }
        let cfg = self.r.config;
        if let Some(sd) = cfg.softdep_for(&m.name) {
            let origin = cfg.origin("softdep", &sd.name).cloned();
            let lists = [
                (sd.pre.clone(), EdgeKind::SoftdepPre(origin.clone())),
                (sd.post.clone(), EdgeKind::SoftdepPost(origin)),
            ];
            for (names, kind) in lists {
                for n in names {
                    let mods = self.r.lookup(&n)?;
                    if !mods.is_empty() {
                        self.name_node(&n, &mods, Some((&m.name, kind.clone())))?;
                    }
                }
            }
        }
        let weak: Vec<(String, Vec<String>)> = cfg
            .weakdeps
            .iter()
            .filter(|(p, _)| fnmatch(p, &m.name))
            .cloned()
            .collect();
        for (pat, names) in weak {
            let kind = EdgeKind::Weakdep(cfg.origin("weakdep", &pat).cloned());
            for n in names {
                let mods = self.r.lookup(&n)?;
                if !mods.is_empty() {
                    self.name_node(&n, &mods, Some((&m.name, kind.clone())))?;
                }
            }
        }
        Ok(())
    }

    /// The modules `m` needs directly, each with the symbols that make it needed (or
    /// modules.dep's list when the file cannot be read).
    fn hard_deps(&self, m: &Module) -> Result<Vec<(Module, EdgeKind)>> {
        let listed = self.r.dependencies(m)?;
        if listed.is_empty() {
            return Ok(Vec::new());
        }
        let Some(path) = &m.path else {
            return Ok(Vec::new());
        };
        let opts = ReadOptions {
            symbols: true,
            signature: false,
            modinfo_keys: None,
            zstd_needs_size: false,
        };
        let Ok(rec) = read_module_with(path, opts) else {
            return Ok(listed
                .into_iter()
                .map(|d| (d, EdgeKind::Dependency))
                .collect());
        };
        let names: HashSet<&str> = listed.iter().map(|d| d.name.as_str()).collect();
        let mut by_provider: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for imp in &rec.imports {
            let providers = self.r.dir.symbol(&format!("symbol:{}", imp.name))?;
            // depmod picked one provider; it is the one modules.dep lists.
            let Some(p) = providers
                .iter()
                .find(|p| names.contains(p.as_str()))
                .or(providers.first())
            else {
                continue;
            };
            if *p != m.name {
                by_provider
                    .entry(p.clone())
                    .or_default()
                    .push(imp.name.clone());
            }
        }
        // In load order (modules.dep's), then any provider modules.dep does not list.
        let mut out = Vec::new();
        for d in listed {
            if let Some(mut syms) = by_provider.remove(&d.name) {
                syms.sort();
                syms.dedup();
                out.push((d, EdgeKind::Symbols(syms)));
            }
        }
        for (p, mut syms) in by_provider {
            syms.sort();
            syms.dedup();
            let dep = self.r.lookup(&p)?.into_iter().next();
            if let Some(d) = dep {
                out.push((d, EdgeKind::Symbols(syms)));
            }
        }
        Ok(out)
    }
}

/// The closure graph of `requests`; the second list holds the requests nothing matched.
pub fn closure_graph(r: &Resolver<'_>, requests: &[String]) -> Result<(Graph, Vec<String>)> {
    let mut x = Explainer::new(r);
    let mut missing = Vec::new();
    for q in requests {
        if x.add_request(q)?.is_none() {
            missing.push(q.clone());
        }
    }
    Ok((x.finish(), missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            kind: EdgeKind::Dependency,
        }
    }

    #[test]
    fn shortest_chain() {
        let g = Graph {
            roots: vec!["a".into()],
            nodes: Vec::new(),
            edges: vec![
                edge("a", "b"),
                edge("b", "c"),
                edge("a", "c"),
                edge("c", "d"),
            ],
        };
        let c = g.chain("a", "d").expect("reachable");
        let hops: Vec<(&str, &str)> = c.iter().map(|e| (&*e.from, &*e.to)).collect();
        assert_eq!(hops, [("a", "c"), ("c", "d")]);
        assert!(g.chain("d", "a").is_none());
        assert_eq!(g.chain("b", "b").map(|c| c.len()), Some(0));
    }

    #[test]
    fn plan_reasons_and_graph_edges_from_text_indexes() {
        use crate::{Config, Resolver, Via};
        use rprobe_index::index::ModuleDir;
        let t = tempfile::tempdir().expect("tempdir");
        // Text indexes only; the module files do not exist, so hard edges fall back to
        // modules.dep's list.
        std::fs::write(
            t.path().join("modules.dep"),
            "kernel/top.ko: kernel/mid.ko kernel/base.ko\nkernel/mid.ko: kernel/base.ko\n\
             kernel/base.ko:\nkernel/pre.ko:\nkernel/weak.ko:\n",
        )
        .expect("write");
        std::fs::write(t.path().join("modules.alias"), "alias fs_top top\n").expect("write");
        let dir = ModuleDir::open(t.path()).expect("open");
        let mut cfg = Config::default();
        cfg.parse("# x\nsoftdep mid pre: pre\nweakdep top weak\n", "t.conf");
        let r = Resolver {
            dir: &dir,
            config: &cfg,
        };
        let top = r.lookup("top").expect("lookup").remove(0);
        let plan = r.plan(&top, "", false).expect("plan");
        let got: Vec<(&str, &Via)> = plan.iter().map(|s| (&*s.module.name, &s.via)).collect();
        assert_eq!(
            got,
            [
                ("base", &Via::Dependency("top".into())),
                ("pre", &Via::SoftdepPre("mid".into())),
                ("mid", &Via::Dependency("top".into())),
                ("top", &Via::Requested),
            ]
        );
        let (g, missing) = closure_graph(&r, &["fs-top".into(), "nothing".into()]).expect("graph");
        assert_eq!(missing, ["nothing"]);
        assert_eq!(g.roots, ["fs_top"]);
        let kinds: Vec<(&str, &str, &str)> = g
            .edges
            .iter()
            .map(|e| (&*e.from, &*e.to, e.kind.name()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("fs_top", "top", "alias"),
                ("top", "base", "dependency"),
                ("top", "mid", "dependency"),
                ("mid", "base", "dependency"),
                ("mid", "pre", "softdep-pre"),
                ("top", "weak", "weakdep"),
            ]
        );
        let soft = g
            .edges
            .iter()
            .find(|e| e.to == "pre")
            .expect("softdep edge");
        let EdgeKind::SoftdepPre(Some(o)) = &soft.kind else {
            panic!("{soft:?}");
        };
        assert_eq!((o.file.as_str(), o.line), ("t.conf", 2));
        let chain = g.chain("fs_top", "pre").expect("chain");
        let hops: Vec<&str> = chain.iter().map(|e| &*e.to).collect();
        assert_eq!(hops, ["top", "mid", "pre"]);
    }
}
