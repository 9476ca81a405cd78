//! Import (SPEC 6).
