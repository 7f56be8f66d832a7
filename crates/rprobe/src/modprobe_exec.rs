//! Executing modprobe's load and remove plans against the kernel (rprobe-load's side of
//! modprobe). The resolver side (modprobe.rs) parses the command line and builds the plans;
//! this file runs them.
