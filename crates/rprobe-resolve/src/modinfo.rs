//! modinfo's lookup chain, as kmod's modinfo walks it for a name that is not a file: the
//! module name in modules.dep, then (unless only names are wanted) symbols and aliases, then
//! built-in modules by name and (unless only names) built-in aliases.

use std::path::PathBuf;

use rprobe_index::index::ModuleDir;

use crate::{Error, Result};

/// What one modinfo argument names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfoTarget {
    /// A module file (absolute path).
    File(PathBuf),
    /// A module built into the kernel, with its modules.builtin.modinfo entries.
    Builtin {
        /// The module name.
        name: String,
        /// Its modinfo key/value pairs (empty when the kernel recorded none).
        modinfo: Vec<(String, String)>,
    },
}

/// The modules `given` names for modinfo (`name_only`: -m, module names only). An empty list
/// means not found; [`Error::BadAlias`] when `given` is not a usable alias (an unmatched
/// bracket), as kmod refuses it.
pub fn modinfo_targets(dir: &ModuleDir, given: &str, name_only: bool) -> Result<Vec<InfoTarget>> {
    let name =
        rprobe_index::name::alias_normalize(given).ok_or_else(|| Error::BadAlias(given.into()))?;
    let mut names: Vec<String> = Vec::new();
    if !name.contains(':') {
        if let Ok(Some(_)) = dir.dep(&name) {
            names.push(name.to_string());
        }
    }
    if names.is_empty() && !name_only {
        for f in [ModuleDir::symbol, ModuleDir::alias] {
            if names.is_empty() {
                names = f(dir, &name).unwrap_or_default();
            }
        }
    }
    if names.is_empty() && dir.builtin(&name).unwrap_or(false) {
        names.push(name.to_string());
    }
    if names.is_empty() && !name_only {
        names = dir.builtin_alias(&name).unwrap_or_default();
    }
    Ok(names
        .into_iter()
        .map(|t| match dir.dep(&t) {
            Ok(Some(e)) => InfoTarget::File(dir.full_path(&e.path)),
            _ => {
                let modinfo = dir.builtin_modinfo(&t).ok().flatten().unwrap_or_default();
                InfoTarget::Builtin { name: t, modinfo }
            }
        })
        .collect())
}
