//! rprobe-testkit VM harness (to be written).
