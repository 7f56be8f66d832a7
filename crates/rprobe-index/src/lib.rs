//! rprobe-index (work in progress).
