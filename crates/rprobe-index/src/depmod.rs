//! (indexes and depmod: being written)
