//! [`LinuxKernel`]: the running kernel, through the module syscalls (finit_module,
//! init_module, delete_module) and its state in sysfs, read through [`HostPaths`].

use std::path::Path;

use rprobe_index::generation::Generation;
use rprobe_modfile::decompress::{self, Compression};

use crate::{Error, HostPaths, InitState, Kernel, LoadFlags, Result};

/// glibc's own init_module(2) and delete_module(2) functions, called as libkmod calls them
/// (nix goes through syscall(2) instead), so that LD_PRELOAD tools replacing these
/// functions (kmod's testsuite fakes) see rprobe's loads and removals. finit_module has no
/// glibc function: it goes through syscall(2), as libkmod's does.
mod glibc {
    use std::ffi::CStr;

    extern "C" {
        fn init_module(
            image: *const std::ffi::c_void,
            len: std::ffi::c_ulong,
            params: *const std::ffi::c_char,
        ) -> std::ffi::c_int;
        fn delete_module(name: *const std::ffi::c_char, flags: std::ffi::c_uint)
            -> std::ffi::c_int;
    }

    /// init_module(image, params): the module image in memory.
    pub(super) fn load(image: &[u8], params: &CStr) -> nix::Result<()> {
        #[expect(unsafe_code, reason = "the pointers are a live slice and a C string")]
        let r = unsafe {
            init_module(
                image.as_ptr().cast(),
                image.len() as std::ffi::c_ulong,
                params.as_ptr(),
            )
        };
        nix::errno::Errno::result(r).map(drop)
    }

    /// delete_module(name, flags).
    pub(super) fn remove(name: &CStr, flags: nix::kmod::DeleteModuleFlags) -> nix::Result<()> {
        #[expect(unsafe_code, reason = "the pointer is a live C string")]
        let r = unsafe { delete_module(name.as_ptr(), flags.bits() as std::ffi::c_uint) };
        nix::errno::Errno::result(r).map(drop)
    }
}

/// finit_module's flag asking the kernel to decompress the file itself (linux/module.h).
const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// The running Linux kernel, its state read through [`HostPaths`].
#[derive(Clone, Debug, Default)]
pub struct LinuxKernel {
    /// Where the kernel's state is read (sysfs for module states, refcounts, holders).
    pub host: HostPaths,
    /// The kmod whose file reading rprobe reproduces (kmod 34 refuses a zstd file that
    /// does not declare its size).
    pub generation: Generation,
}

impl LinuxKernel {
    /// The kernel whose state is read through `host`, loading files as `generation` does.
    pub fn new(host: HostPaths, generation: Generation) -> LinuxKernel {
        LinuxKernel { host, generation }
    }

    /// The codecs the kernel decompresses itself (/sys/module/compression).
    pub fn kernel_compression(&self) -> Option<String> {
        std::fs::read_to_string(self.host.sysfs.join("module/compression"))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

impl Kernel for LinuxKernel {
    fn initstate(&self, name: &str) -> Option<InitState> {
        self.host.initstate(name, false)
    }

    fn refcnt(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.host.module_dir(name).join("refcnt"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn holders(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.host.module_dir(name).join("holders"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn load(&mut self, name: &str, path: &Path, params: &str, flags: LoadFlags) -> Result<()> {
        use glibc::load as init_module;
        use nix::kmod::{finit_module, ModuleInitFlags};
        let params_c = std::ffi::CString::new(params.replace('\0', "")).unwrap_or_default();
        let mut f = ModuleInitFlags::empty();
        if flags.ignore_modversions {
            f |= ModuleInitFlags::MODULE_INIT_IGNORE_MODVERSIONS;
        }
        if flags.ignore_vermagic {
            f |= ModuleInitFlags::MODULE_INIT_IGNORE_VERMAGIC;
        }
        let mut file = std::fs::File::open(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        // As kmod_file_open: the codec by its magic, and a file too short to hold one is
        // refused before the kernel sees it.
        let codec = Compression::detect(&decompress::read_magic(path, &mut file)?);
        let kernel_does = self.kernel_compression().is_some_and(|c| c == codec.name());
        let kerr = |op, errno| Error::Kernel {
            op,
            name: name.to_string(),
            errno,
        };
        if codec == Compression::None || (kernel_does && !flags.userspace_decompress) {
            // The kernel decompresses (nix has no name for this flag yet).
            if codec != Compression::None {
                f |= ModuleInitFlags::from_bits_retain(MODULE_INIT_COMPRESSED_FILE);
            }
            let file = std::fs::File::open(path).map_err(|e| Error::Io {
                path: path.into(),
                source: e,
            })?;
            match finit_module(&file, &params_c, f) {
                Ok(()) => return Ok(()),
                // No finit_module: the bytes go through init_module, decompressed here
                // (kmod 34 falls back on ENOSYS alone; any other error is the kernel's
                // answer, e.g. EINVAL for a codec setting it cannot decode).
                Err(nix::errno::Errno::ENOSYS) => {}
                Err(e) => return Err(kerr("finit_module", e)),
            }
        }
        let image = decompress::open(path)?;
        if codec == Compression::Zstd
            && !image.size_declared
            && self.generation.zstd_needs_declared_size()
        {
            return Err(Error::Read(rprobe_modfile::record::unsized_zstd(path)));
        }
        if flags.ignore_modversions || flags.ignore_vermagic {
            // As kmod: strip what the force flags ignore, then init_module.
            let mut owned = image.bytes.to_vec();
            rprobe_modfile::elf::strip_for_force(
                path,
                &mut owned,
                flags.ignore_modversions,
                flags.ignore_vermagic,
            )?;
            return init_module(&owned, &params_c).map_err(|e| kerr("init_module", e));
        }
        init_module(&image.bytes, &params_c).map_err(|e| kerr("init_module", e))
    }

    fn remove(&mut self, name: &str, force: bool) -> Result<()> {
        use glibc::remove as delete_module;
        use nix::kmod::DeleteModuleFlags;
        let mut f = DeleteModuleFlags::O_NONBLOCK;
        if force {
            f |= DeleteModuleFlags::O_TRUNC;
        }
        let c = std::ffi::CString::new(name).unwrap_or_default();
        delete_module(&c, f).map_err(|errno| Error::Kernel {
            op: "delete_module",
            name: name.into(),
            errno,
        })
    }
}
