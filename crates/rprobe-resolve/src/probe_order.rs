//! kmod's probe list, the one home of its order: for a module asked for, its hard
//! dependencies (each with its soft pre-dependencies before it and post-dependencies after
//! it), then the module with its own soft dependencies around it; every module object once.
//! kmod builds it in `__kmod_module_get_probe_list` and `__kmod_module_fill_softdep`.
//!
//! The walk is written once over [`ProbeGraph`]: the tools' [`crate::Resolver`] walks
//! modules as values (a module found through an alias is another object than the same
//! module found by name, as in kmod), the libkmod.so.2 library walks its reference-counted
//! module objects and their marks.

use crate::Via;

/// What the probe list walks: module objects, their dependencies and soft dependencies,
/// and the marks kmod keeps on each object.
pub trait ProbeGraph {
    /// A module object.
    type Node: Clone;
    /// Why a dependency cannot be had.
    type Error;

    /// Marks `node` visited; false when it was already.
    fn visit(&mut self, node: &Self::Node) -> bool;
    /// Marks `node` required (a failure to load it fails the probe).
    fn require(&mut self, node: &Self::Node);
    /// The module's hard dependencies, in load order.
    fn dependencies(&mut self, node: &Self::Node) -> Result<Vec<Self::Node>, Self::Error>;
    /// The module's soft dependencies: (pre, post).
    #[expect(clippy::type_complexity, reason = "two lists of the graph's nodes")]
    fn softdeps(
        &mut self,
        node: &Self::Node,
    ) -> Result<(Vec<Self::Node>, Vec<Self::Node>), Self::Error>;
    /// The module's name, for [`Via`].
    fn name(&self, node: &Self::Node) -> String;
}

/// One entry of a probe list.
#[derive(Clone, Debug)]
pub struct Entry<N> {
    /// The module object.
    pub node: N,
    /// Its install command is not run (it has soft dependencies, or the caller asked).
    pub ignorecmd: bool,
    /// The edge that brought it in.
    pub via: Via,
}

/// The probe list for `node` as kmod builds it: `ignorecmd` is the caller's "ignore
/// install commands" for the module asked for.
pub fn probe_list<G: ProbeGraph>(
    graph: &mut G,
    node: &G::Node,
    ignorecmd: bool,
) -> Result<Vec<Entry<G::Node>>, G::Error> {
    let mut list = Vec::new();
    visit(graph, node, Via::Requested, true, ignorecmd, &mut list)?;
    Ok(list)
}

/// `__kmod_module_get_probe_list`.
fn visit<G: ProbeGraph>(
    graph: &mut G,
    node: &G::Node,
    via: Via,
    required: bool,
    ignorecmd: bool,
    list: &mut Vec<Entry<G::Node>>,
) -> Result<(), G::Error> {
    if !graph.visit(node) {
        return Ok(());
    }
    let deps = graph.dependencies(node)?;
    if required {
        graph.require(node);
        for d in &deps {
            graph.require(d);
        }
    }
    for d in &deps {
        let dv = Via::Dependency(graph.name(node));
        fill_softdep(graph, d, dv, list)?;
    }
    if ignorecmd {
        list.push(Entry {
            node: node.clone(),
            ignorecmd: true,
            via,
        });
        Ok(())
    } else {
        fill_softdep(graph, node, via, list)
    }
}

/// `__kmod_module_fill_softdep`: pre-dependencies, the module, post-dependencies.
fn fill_softdep<G: ProbeGraph>(
    graph: &mut G,
    node: &G::Node,
    via: Via,
    list: &mut Vec<Entry<G::Node>>,
) -> Result<(), G::Error> {
    let (pre, post) = graph.softdeps(node)?;
    for p in &pre {
        let v = Via::SoftdepPre(graph.name(node));
        visit(graph, p, v, false, false, list)?;
    }
    list.push(Entry {
        node: node.clone(),
        ignorecmd: !pre.is_empty() || !post.is_empty(),
        via,
    });
    for p in &post {
        let v = Via::SoftdepPost(graph.name(node));
        visit(graph, p, v, false, false, list)?;
    }
    Ok(())
}
