//! The C API's contract where kmod's documentation and consumers fix it (reference counts,
//! the module pool, lists, the lookup contract), and the hosting rules: one context per
//! thread, and a context used in a forked child (udevd's workers). On a synthetic tree
//! indexed by rprobe's depmod; the comparison with Debian's libraries is tests/libkmod.rs.

#![expect(unsafe_code, reason = "calls the C ABI")]

use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr::null_mut;

use rprobe_libkmod::ctx::*;
use rprobe_libkmod::list::{kmod_list, kmod_list_last, kmod_list_next};
use rprobe_libkmod::module::*;
use rprobe_libkmod::Ctx;
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

const RELEASE: &str = "6.1.0-api";

fn tree(root: &Path) -> std::path::PathBuf {
    let t = SynthTree::new(root, RELEASE);
    t.add(
        &SynthModule::new("base").export("base_fn"),
        "kernel",
        Codec::None,
    );
    t.add(
        &SynthModule::new("mid-mod")
            .import("base_fn")
            .export("mid_fn"),
        "kernel",
        Codec::Xz,
    );
    t.add(
        &SynthModule::new("top")
            .import("mid_fn")
            .info("alias", "foo:bar*"),
        "kernel",
        Codec::None,
    );
    reindex(root);
    std::fs::create_dir_all(root.join("conf")).unwrap();
    t.moddir()
}

/// Runs rprobe's depmod on the tree under `root`.
fn reindex(root: &Path) {
    let opts = rprobe_depmod::Options {
        basedir: Some(root.to_path_buf()),
        kversion: RELEASE.into(),
        config_paths: Some(vec![root.join("none")]),
        ..Default::default()
    };
    assert!(rprobe_depmod::run(&opts, &mut |_, _| {}).unwrap());
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A context on `dir` with the test's (empty) configuration directory.
fn open(dir: &Path) -> *mut Ctx {
    let d = c(dir.to_str().unwrap());
    let conf = c(dir
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("conf")
        .to_str()
        .unwrap());
    let paths = [conf.as_ptr(), std::ptr::null()];
    // SAFETY: valid C strings and a NULL-terminated array.
    let ctx = unsafe { kmod_new(d.as_ptr(), paths.as_ptr()) };
    assert!(!ctx.is_null());
    ctx
}

/// The names a lookup finds, in order.
fn lookup(ctx: *mut Ctx, given: &str) -> Vec<String> {
    let g = c(given);
    let mut l: *mut kmod_list = null_mut();
    // SAFETY: a live context, a C string, an empty list.
    unsafe {
        assert_eq!(kmod_module_new_from_lookup(ctx, g.as_ptr(), &mut l), 0);
        let mut out = Vec::new();
        let mut e = l;
        while !e.is_null() {
            let m = kmod_module_get_module(e);
            out.push(
                CStr::from_ptr(kmod_module_get_name(m))
                    .to_string_lossy()
                    .into_owned(),
            );
            kmod_module_unref(m);
            e = kmod_list_next(l, e);
        }
        kmod_module_unref_list(l);
        out
    }
}

#[test]
fn reference_counts_pool_and_lists_as_kmod() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tree(tmp.path());
    let ctx = open(&dir);
    // SAFETY: the C API used as its documentation says.
    unsafe {
        let (mut a, mut b) = (null_mut(), null_mut());
        assert_eq!(
            kmod_module_new_from_name(ctx, c"mid-mod".as_ptr(), &mut a),
            0
        );
        assert_eq!(
            kmod_module_new_from_name(ctx, c"mid_mod".as_ptr(), &mut b),
            0
        );
        assert_eq!(a, b, "one object per name, '-' and '_' alike");
        assert_eq!(
            CStr::from_ptr(kmod_module_get_name(a)).to_str().unwrap(),
            "mid_mod"
        );
        // Dependencies: a new list, each entry referenced, in load order.
        let deps = kmod_module_get_dependencies(a);
        assert!(!deps.is_null());
        assert_eq!(
            kmod_list_last(deps),
            deps,
            "one dependency: the list is its own last node"
        );
        assert!(kmod_list_next(deps, deps).is_null());
        kmod_module_unref_list(deps);
        // Modules hold their context: unref does not free it while they live.
        assert_eq!(kmod_unref(kmod_ref(ctx)), ctx);
        assert_eq!(kmod_module_unref(a), a, "still referenced by b");
        assert!(kmod_module_unref(b).is_null(), "freed at zero");
        // The lookup contract: NULL arguments, a list that is not empty, nothing found.
        let mut l: *mut kmod_list = null_mut();
        assert_eq!(
            kmod_module_new_from_lookup(null_mut(), c"x".as_ptr(), &mut l),
            -libc::ENOENT
        );
        assert_eq!(
            kmod_module_new_from_name(ctx, std::ptr::null(), &mut a),
            -libc::ENOENT
        );
        assert_eq!(
            kmod_module_new_from_lookup(ctx, c"nothing-here".as_ptr(), &mut l),
            0
        );
        assert!(l.is_null(), "not found is an empty (NULL) list");
        let mut full = kmod_module_get_dependencies({
            kmod_module_new_from_name(ctx, c"top".as_ptr(), &mut a);
            a
        });
        assert_eq!(
            kmod_module_new_from_lookup(ctx, c"base".as_ptr(), &mut full),
            -libc::ENOSYS
        );
        kmod_module_unref_list(full);
        kmod_module_unref(a);
        assert!(
            kmod_unref(ctx).is_null(),
            "the last reference frees the context"
        );
    }
}

#[test]
fn one_context_per_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tree(tmp.path());
    let queries = [
        "top",
        "mid-mod",
        "base",
        "foo:barbaz",
        "symbol:mid_fn",
        "nope",
    ];
    let ctx = open(&dir);
    let want: Vec<Vec<String>> = queries.iter().map(|q| lookup(ctx, q)).collect();
    // SAFETY: our context.
    unsafe { kmod_unref(ctx) };
    assert_eq!(want[3], ["top"]);
    assert_eq!(want[4], ["mid_mod"]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let ctx = open(&dir);
                for _ in 0..200 {
                    let got: Vec<Vec<String>> = queries.iter().map(|q| lookup(ctx, q)).collect();
                    assert_eq!(got, want);
                }
                // SAFETY: this thread's context.
                unsafe { kmod_unref(ctx) };
            });
        }
    });
}

#[test]
fn a_forked_child_uses_the_inherited_context() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tree(tmp.path());
    let ctx = open(&dir);
    // SAFETY: as udevd: load, look up, fork; the child looks up and exits without
    // returning into the test harness.
    unsafe {
        // Without modules.builtin, depmod leaves modules.builtin.bin empty, which
        // kmod_load_resources refuses (shorter than an index header: -EINVAL in kmod's
        // index_mm_open), loading nothing.
        assert_eq!(kmod_load_resources(ctx), -libc::EINVAL);
        std::fs::write(dir.join("modules.builtin"), "kernel/bi.ko\n").unwrap();
        reindex(tmp.path());
        assert_eq!(kmod_load_resources(ctx), 0);
        assert_eq!(lookup(ctx, "top"), ["top"]);
        match libc::fork() {
            0 => {
                let ok = lookup(ctx, "foo:barbaz") == ["top"]
                    && lookup(ctx, "symbol:base_fn") == ["base"];
                kmod_unref(ctx);
                libc::_exit(if ok { 0 } else { 3 });
            }
            pid => {
                assert!(pid > 0);
                let mut status = 0;
                assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "child: {status:#x}"
                );
            }
        }
        assert_eq!(kmod_validate_resources(ctx), 0);
        assert_eq!(lookup(ctx, "mid_mod"), ["mid_mod"]);
        kmod_unref(ctx);
    }
}
