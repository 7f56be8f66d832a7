//! (module reader: being written)
