//! [`SimKernel`]: a simulated kernel for tests and dry runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::{Error, InitState, Kernel, LoadFlags, Result};

/// A simulated kernel: loading checks every needed symbol is exported by the kernel's own
/// symbols or a module already loaded; refcounts and holders follow; every call is recorded.
#[derive(Clone, Debug, Default)]
pub struct SimKernel {
    /// Symbols the kernel image itself exports.
    pub kernel_symbols: BTreeSet<String>,
    /// Loaded modules: name -> (exports, modules it uses).
    pub loaded: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Built-in module names.
    pub builtin: BTreeSet<String>,
    /// Every call, in order: "load NAME PARAMS" or "remove NAME".
    pub calls: Vec<String>,
}

impl SimKernel {
    /// Resolves a module's needed symbols against the loaded modules (and the kernel's):
    /// its exports and the modules it would use, or the error the kernel would give.
    pub(crate) fn link(&self, name: &str, path: &Path) -> Result<(Vec<String>, Vec<String>)> {
        if self.loaded.contains_key(name) {
            return Err(Error::Kernel {
                op: "init_module",
                name: name.into(),
                errno: nix::errno::Errno::EEXIST,
            });
        }
        let rec = rprobe_modfile::record::read_module(path)?;
        let mut uses = BTreeSet::new();
        for imp in &rec.imports {
            if imp.weak || self.kernel_symbols.contains(&imp.name) || imp.name == "module_layout" {
                continue;
            }
            match self
                .loaded
                .iter()
                .find(|(_, (ex, _))| ex.contains(&imp.name))
            {
                Some((owner, _)) => {
                    uses.insert(owner.clone());
                }
                None => {
                    return Err(Error::UnknownSymbol {
                        name: name.into(),
                        symbol: imp.name.clone(),
                    });
                }
            }
        }
        let exports = rec.exports.into_iter().map(|e| e.name).collect();
        Ok((exports, uses.into_iter().collect()))
    }
}

impl Kernel for SimKernel {
    fn initstate(&self, name: &str) -> Option<InitState> {
        if self.builtin.contains(name) {
            Some(InitState::Builtin)
        } else if self.loaded.contains_key(name) {
            Some(InitState::Live)
        } else {
            None
        }
    }

    fn refcnt(&self, name: &str) -> Option<u32> {
        self.loaded.get(name)?;
        Some(self.holders(name).len() as u32)
    }

    fn holders(&self, name: &str) -> Vec<String> {
        self.loaded
            .iter()
            .filter(|(_, (_, uses))| uses.iter().any(|u| u == name))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn load(&mut self, name: &str, path: &Path, params: &str, _flags: LoadFlags) -> Result<()> {
        self.calls
            .push(format!("load {name} {params}").trim_end().to_string());
        let (exports, uses) = self.link(name, path)?;
        self.loaded.insert(name.to_string(), (exports, uses));
        Ok(())
    }

    fn remove(&mut self, name: &str, _force: bool) -> Result<()> {
        self.calls.push(format!("remove {name}"));
        if !self.loaded.contains_key(name) {
            return Err(Error::Kernel {
                op: "delete_module",
                name: name.into(),
                errno: nix::errno::Errno::ENOENT,
            });
        }
        if !self.holders(name).is_empty() {
            return Err(Error::Kernel {
                op: "delete_module",
                name: name.into(),
                errno: nix::errno::Errno::EAGAIN,
            });
        }
        self.loaded.remove(name);
        Ok(())
    }
}
