//! The dependency graph: modules in kmod's order, their records, dependencies sorted by
//! kmod's topological order, cycle reports.

use crate::search::Mod;
use crate::Level;
use rprobe_modfile::record::ModuleRecord;

/// The computed state: modules in final order, their records, dependencies.
pub(crate) struct Graph {
    pub(crate) mods: Vec<Mod>,
    pub(crate) recs: Vec<Option<ModuleRecord>>,
    pub(crate) deps: Vec<Vec<usize>>,
    pub(crate) dep_sort_idx: Vec<usize>,
    pub(crate) symbols: Vec<(String, usize)>,
}

/// Removes `m` from kmod's circular root list as kmod_list_remove_data does: the list's
/// head becomes the entry after the removed one (the list turns), so later roots are taken
/// from there and wrap around to the old head.
fn remove_root(roots: &mut Vec<usize>, m: usize) {
    if let Some(p) = roots.iter().position(|&r| r == m) {
        roots.remove(p);
        let len = roots.len();
        if len > 0 {
            roots.rotate_left(p % len);
        }
    }
}

/// Prints each dependency cycle as kmod's depmod does: a walk from every module still used
/// after the topological sort, in module order, the root list turning as kmod's does when
/// modules are taken out of it, each cycle printed from the root it was found from.
pub(crate) fn report_cycles(
    mods: &[Mod],
    deps: &[Vec<usize>],
    users: &[usize],
    log: &mut dyn FnMut(Level, String),
) {
    let mut roots: Vec<usize> = (0..mods.len()).filter(|&i| users[i] > 0).collect();
    let mut in_loop: std::collections::BTreeSet<&str> = Default::default();
    let mut visited = vec![false; mods.len()];
    while !roots.is_empty() {
        let root = roots.remove(0);
        // vertices: (module, parent vertex)
        let mut verts: Vec<(usize, Option<usize>)> = vec![(root, None)];
        let mut stack = vec![0usize];
        while let Some(v) = stack.pop() {
            let m = verts[v].0;
            if visited[m] && m == root {
                let mut chain = Vec::new();
                let mut p = verts[v].1;
                while let Some(pv) = p {
                    chain.push(verts[pv].0);
                    p = verts[pv].1;
                }
                let mut names: Vec<&str> = Vec::new();
                for &c in chain.iter().rev() {
                    names.push(&mods[c].modname);
                    in_loop.insert(&mods[c].modname);
                    remove_root(&mut roots, c);
                }
                names.push(&mods[m].modname);
                log(
                    Level::Error,
                    format!("Cycle detected: {}", names.join(" -> ")),
                );
                continue;
            }
            // A module met again below itself (not the root) is a cycle that does not pass
            // through the root: kmod's walk goes round it forever (it never ends, printing
            // ever longer chains). rprobe does not enter it; whenever kmod's walk ends, this
            // never happens, so the output is kmod's.
            if m != root && {
                let mut p = verts[v].1;
                let mut again = false;
                while let Some(pv) = p {
                    if verts[pv].0 == m {
                        again = true;
                        break;
                    }
                    p = verts[pv].1;
                }
                again
            } {
                continue;
            }
            visited[m] = true;
            if deps[m].is_empty() {
                remove_root(&mut roots, m);
                continue;
            }
            for &d in &deps[m] {
                verts.push((d, Some(v)));
                stack.push(verts.len() - 1);
                if verts.len() > 1_000_000 {
                    return;
                }
            }
        }
    }
    log(
        Level::Error,
        format!("Found {} modules in dependency cycles!", in_loop.len()),
    );
}

pub(crate) fn all_deps_sorted(g: &Graph, i: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut seen = vec![false; g.mods.len()];
    pub(crate) fn fill(g: &Graph, i: usize, out: &mut Vec<usize>, seen: &mut [bool]) {
        for &d in &g.deps[i] {
            if seen[d] {
                continue;
            }
            seen[d] = true;
            out.push(d);
            fill(g, d, out, seen);
        }
    }
    fill(g, i, &mut out, &mut seen);
    out.sort_by_key(|&d| g.dep_sort_idx[d]);
    out
}

pub(crate) fn infos(g: &Graph, i: usize) -> &[(String, String)] {
    g.recs[i]
        .as_ref()
        .map(|r| r.modinfo.as_slice())
        .unwrap_or(&[])
}

/// Every (module index, module, value) of a modinfo key, modules in index order.
pub(crate) fn key_values<'g>(
    g: &'g Graph,
    key: &'g str,
) -> impl Iterator<Item = (usize, &'g Mod, &'g str)> + 'g {
    g.mods.iter().enumerate().flat_map(move |(i, m)| {
        infos(g, i)
            .iter()
            .filter(move |(k, _)| k == key)
            .map(move |(_, v)| (i, m, v.as_str()))
    })
}
