//! The libkmod C API driven by random call sequences over a damaged module directory: a
//! small tree indexed by rprobe's depmod (made once per process), one of its index files
//! or module files patched with input bytes, a modprobe.d file from the input, then calls
//! chosen by the remaining bytes (lookups, dependencies, soft and weak dependencies,
//! dry-run probes with every flag, module information, filters, configuration iterators,
//! index dumps, resource loading and validation, reference counting). Every call must
//! return, never crash or hang; references are kept balanced as a correct C caller keeps
//! them. Probes always carry KMOD_PROBE_DRY_RUN and a run_install callback, so nothing is
//! loaded and no command runs.
#![no_main]

use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rprobe_libkmod::config_iter::*;
use rprobe_libkmod::ctx::*;
use rprobe_libkmod::info::*;
use rprobe_libkmod::list::{kmod_list, kmod_list_next};
use rprobe_libkmod::module::*;
use rprobe_libkmod::probe::kmod_module_probe_insert_module;
use rprobe_libkmod::{Ctx, Module};
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

const RELEASE: &str = "6.1.0-fuzz";

/// The pristine tree: (root, module directory).
fn pristine() -> &'static (tempfile::TempDir, PathBuf) {
    static T: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    T.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        let t = SynthTree::new(d.path(), RELEASE);
        t.add(&SynthModule::new("base").export("base_fn").signed(b"signer", b"key", b"sig"), "kernel", Codec::None);
        t.add(&SynthModule::new("mid-mod").import("base_fn").export("mid_fn"), "kernel", Codec::Xz);
        t.add(&SynthModule::new("top").import("mid_fn").info("alias", "pci:v00001234d*"), "kernel", Codec::Zstd);
        t.add(&SynthModule::new("other").import("base_fn"), "kernel", Codec::Gzip);
        t.file("modules.builtin", "kernel/bi.ko\n");
        let opts = rprobe_depmod::Options {
            basedir: Some(t.root.clone()),
            kversion: t.version.clone(),
            config_paths: Some(vec![d.path().join("no-depmod.d")]),
            ..Default::default()
        };
        let _ = rprobe_depmod::run(&opts, &mut |_, _| {});
        // The library reads the kernel's state from here, not from the host.
        std::env::set_var("RPROBE_SYSFS", d.path().join("sys"));
        std::env::set_var("RPROBE_PROC_MODULES", d.path().join("proc-modules"));
        std::env::set_var("RPROBE_KERNEL_CMDLINE", d.path().join("cmdline"));
        std::fs::write(d.path().join("proc-modules"), "base 16384 1 mid_mod, Live 0x0\n").ok();
        std::fs::write(d.path().join("cmdline"), "top.x=1 modprobe.blacklist=other\n").ok();
        let moddir = t.moddir();
        (d, moddir)
    })
}

/// Copies a directory's files (one level and the kernel/ subtree).
fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().flatten() {
        let rel = e.path().strip_prefix(from).unwrap_or(e.path());
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            let _ = std::fs::create_dir_all(&dest);
        } else {
            let _ = std::fs::copy(e.path(), &dest);
        }
    }
}

const NAMES: [&str; 10] = [
    "base", "mid-mod", "top", "other", "bi", "nosuch", "symbol:mid_fn",
    "pci:v00001234d00005678", "my-alias", "a[",
];

unsafe extern "C" fn run_install(_: *mut Module, _: *const c_char, data: *mut c_void) -> i32 {
    -(data as usize as i32 & 7)
}

unsafe extern "C" fn print_action(m: *mut Module, _: bool, o: *const c_char) {
    let _ = (kmod_module_get_name(m), o);
}

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Frees a module list's entries' references and the list.
unsafe fn drop_list(l: *mut kmod_list) {
    kmod_module_unref_list(l);
}

unsafe fn each(l: *mut kmod_list, mut f: impl FnMut(*mut kmod_list)) {
    let mut e = l;
    while !e.is_null() {
        f(e);
        e = kmod_list_next(l, e);
    }
}

fuzz_target!(|data: &[u8]| {
    let (root, moddir) = pristine();
    if data.len() < 4 {
        return;
    }
    let work = tempfile::tempdir_in(root.path()).expect("tempdir");
    let dir = work.path().join("mods");
    copy_tree(moddir, &dir);
    // Damage: one file patched at an offset with up to 64 input bytes.
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    let (head, rest) = data.split_at(4);
    let n = (head[3] as usize % 65).min(rest.len());
    let (patch, ops) = rest.split_at(n);
    if let Some(f) = files.get(head[0] as usize % (files.len() + 1)) {
        if let Ok(mut b) = std::fs::read(f) {
            let off = u16::from_le_bytes([head[1], head[2]]) as usize;
            if off < b.len() {
                let end = (off + patch.len()).min(b.len());
                b[off..end].copy_from_slice(&patch[..end - off]);
                if head[3] & 0x80 != 0 {
                    b.truncate(off);
                }
                let _ = std::fs::write(f, &b);
            }
        }
    }
    let conf = work.path().join("conf");
    let _ = std::fs::create_dir_all(&conf);
    let _ = std::fs::write(
        conf.join("a.conf"),
        [b"softdep top pre: other post: bi\nalias my-alias other\ninstall bi /bin/true\nweakdep top base\noptions base y=1\n".as_slice(), patch].concat(),
    );
    unsafe {
        let d = cstr(&dir.to_string_lossy());
        let c = cstr(&conf.to_string_lossy());
        let paths = [c.as_ptr(), std::ptr::null()];
        let ctx: *mut Ctx = kmod_new(d.as_ptr(), paths.as_ptr());
        if ctx.is_null() {
            return;
        }
        kmod_set_log_fn(ctx, None, std::ptr::null());
        let mut held: Vec<*mut Module> = Vec::new();
        for (i, op) in ops.iter().enumerate().take(64) {
            let name = cstr(NAMES[(*op as usize >> 4) % NAMES.len()]);
            match op & 0x0f {
                0 => {
                    let mut l = null_mut();
                    kmod_module_new_from_lookup(ctx, name.as_ptr(), &mut l);
                    each(l, |e| held.push(kmod_module_get_module(e)));
                    drop_list(l);
                }
                1 => {
                    let mut m = null_mut();
                    if kmod_module_new_from_name(ctx, name.as_ptr(), &mut m) == 0 {
                        held.push(m);
                    }
                }
                2 => {
                    let mut m = null_mut();
                    if kmod_module_new_from_name_lookup(ctx, name.as_ptr(), &mut m) == 0 && !m.is_null() {
                        held.push(m);
                    }
                }
                3 => {
                    kmod_load_resources(ctx);
                    kmod_validate_resources(ctx);
                }
                4 => {
                    let p = cstr(&files.get(i % files.len().max(1)).map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
                    let mut m = null_mut();
                    if kmod_module_new_from_path(ctx, p.as_ptr(), &mut m) == 0 {
                        held.push(m);
                    }
                }
                5 => {
                    let it = match op >> 4 & 7 {
                        0 => kmod_config_get_aliases(ctx),
                        1 => kmod_config_get_blacklists(ctx),
                        2 => kmod_config_get_softdeps(ctx),
                        3 => kmod_config_get_weakdeps(ctx),
                        4 => kmod_config_get_install_commands(ctx),
                        5 => kmod_config_get_remove_commands(ctx),
                        _ => kmod_config_get_options(ctx),
                    };
                    while kmod_config_iter_next(it) {
                        let _ = (kmod_config_iter_get_key(it), kmod_config_iter_get_value(it));
                    }
                    kmod_config_iter_free_iter(it);
                }
                6 => {
                    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                        use std::os::fd::AsRawFd;
                        kmod_dump_index(ctx, (op >> 4) as i32 % 6, null.as_raw_fd());
                    }
                }
                _ => {
                    let Some(&m) = held.get(*op as usize % held.len().max(1)) else {
                        continue;
                    };
                    match op & 0x0f {
                        7 => {
                            let l = kmod_module_get_dependencies(m);
                            drop_list(l);
                            let (mut pre, mut post, mut weak) = (null_mut(), null_mut(), null_mut());
                            kmod_module_get_softdeps(m, &mut pre, &mut post);
                            kmod_module_get_weakdeps(m, &mut weak);
                            drop_list(pre);
                            drop_list(post);
                            drop_list(weak);
                        }
                        8 => {
                            let flags = 0x10 | ((*op as u32) << 12 & 0x7_0000) | (*op as u32 & 0x2c);
                            kmod_module_probe_insert_module(m, flags, c"x=1".as_ptr(), Some(run_install), *op as usize as *const c_void, Some(print_action));
                        }
                        9 => {
                            let mut l = null_mut();
                            kmod_module_get_info(m, &mut l);
                            each(l, |e| {
                                let _ = (kmod_module_info_get_key(e), kmod_module_info_get_value(e));
                            });
                            kmod_module_info_free_list(l);
                        }
                        10 => {
                            let mut l = null_mut();
                            kmod_module_get_versions(m, &mut l);
                            kmod_module_versions_free_list(l);
                            let mut l = null_mut();
                            kmod_module_get_symbols(m, &mut l);
                            kmod_module_symbols_free_list(l);
                            let mut l = null_mut();
                            kmod_module_get_dependency_symbols(m, &mut l);
                            each(l, |e| {
                                let _ = kmod_module_dependency_symbol_get_symbol(e);
                            });
                            kmod_module_dependency_symbols_free_list(l);
                        }
                        11 => {
                            let _ = (
                                kmod_module_get_path(m),
                                kmod_module_get_options(m),
                                kmod_module_get_install_commands(m),
                                kmod_module_get_remove_commands(m),
                                rprobe_libkmod::sys::kmod_module_get_initstate(m),
                            );
                        }
                        12 => {
                            let l = rprobe_libkmod::module::module_list(held.clone());
                            for &h in &held {
                                kmod_module_ref(h);
                            }
                            let mut out = null_mut();
                            kmod_module_apply_filter(ctx, (*op as i32 >> 4) & 3, l, &mut out);
                            drop_list(out);
                            drop_list(l);
                        }
                        _ => {
                            let k = *op as usize % held.len();
                            kmod_module_unref(held.swap_remove(k));
                        }
                    }
                }
            }
        }
        for m in held {
            kmod_module_unref(m);
        }
        kmod_unref(ctx);
    }
});
