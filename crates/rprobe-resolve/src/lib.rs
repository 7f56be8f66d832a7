//! rprobe-resolve (work in progress).
