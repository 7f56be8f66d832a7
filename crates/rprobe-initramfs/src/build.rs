//! Building images: see [`crate::cpio`].
