//! End-to-end tests: vm.
