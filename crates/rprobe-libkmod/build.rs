//! Compiles the C half of the library: the trampoline that hands a message to a log
//! function taking a `va_list` (stable Rust cannot build one), kmod's default stderr
//! loggers, and the `kmod_module_new_from_name_lookup@LIBKMOD_5` compatibility alias.

fn main() {
    println!("cargo:rerun-if-changed=c/shim.c");
    cc::Build::new()
        .file("c/shim.c")
        .flag_if_supported("-fvisibility=hidden")
        .compile("rprobe_libkmod_shim");
}
