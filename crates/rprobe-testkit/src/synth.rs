//! Synthetic module trees (to be written: relocatable ELF modules with chosen modinfo,
//! exports, imports with CRCs and signature trailers, in every compression).
