//! rprobe-load (work in progress).
